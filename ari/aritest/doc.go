// Package aritest is a simulated Asterisk 22 REST Interface (ARI) for tests,
// demos and load benchmarks of callbackd.
//
// A Sim serves the ARI REST resources and the events WebSocket over real HTTP
// on 127.0.0.1, and answers the way Asterisk 22 with chan_pjsip and res_ari
// does: the same paths, parameters, status codes, JSON shapes and, above all,
// the same event order. Outbound calls reach scriptable phones chosen by the
// number in the dialled endpoint, so a test can say that 5551234 is busy,
// never answers, or answers after two seconds and presses 1.
//
// Where Asterisk's behaviour is surprising the simulator copies it rather than
// smoothing it over, because callbackd must survive the real thing:
//
//   - POST /channels returns the channel in state Down at once; StasisStart
//     only follows the far end's answer, after ChannelStateChange(Up) and
//     Dial(ANSWER). Until then the channel's dialplan application reads
//     "AppDial2" with data "(Outgoing Line)", as ast_dial sets it.
//   - Stasis() is bracketed by ChannelVarset events for STASISSTATUS: empty
//     before StasisStart, SUCCESS (FAILED without a connected application)
//     after StasisEnd. A channel that ran no application before (one made
//     by POST /channels/create) also raises ChannelDialplan first; an
//     originated one, coming from AppDial2, does not.
//   - Dial events always carry forward and dialstring, empty when there are
//     none; an originate repeats the dialstring on each, an ARI dial names
//     it on the first only.
//   - A call that rings out ends with ChannelDestroyed cause 19 and no
//     ChannelHangupRequest and no Dial(NOANSWER) (main/dial.c hangs the
//     channel up directly on its global timeout).
//   - A PJSIP rejection (486, 403, ...) is a queued hangup: ChannelHangupRequest
//     with the cause and the SIP code as tech_cause, then Dial with the status
//     derived from the cause (only 17, 34, 3 and 20 have their own status; every
//     other cause reads NOANSWER), then ChannelDestroyed.
//   - DELETE /channels/{id} is a soft hangup: ChannelHangupRequest carries
//     cause 32 (AST_SOFTHANGUP_EXPLICIT) and soft=true, and the requested
//     reason only shows in ChannelDestroyed.
//   - StasisEnd precedes ChannelDestroyed.
//   - An originate into an application without a connected WebSocket is
//     accepted; when the far end answers, Stasis() fails and the channel is
//     hung up, so the application never hears of it.
//   - A channelId conflicts only with a live channel.
//   - A bad technology or an unknown PJSIP endpoint is a 500 whose body is
//     {"error": "Allocation failed"} (other errors say "message"), as
//     ast_request failing inside ast_dial_prerun is reported. But once a
//     keep-alive connection had a 409 for a channel id in use, every later
//     such failure on it is a 409 too: the handlers tell the two apart by a
//     thread-local error that nothing clears.
//   - A Local endpoint makes two channels, "<id>" (";1" in its name) and
//     "<id>;2", both listed by GET /channels; an originate's application
//     hears the events of both, a create's only of the first.
//   - An application hears a bridge while it is subscribed to it: from its
//     channel entering until the channel is taken out again. A channel that
//     hangs up in the bridge leaves the subscription behind, so the
//     application still hears BridgeDestroyed for the then empty bridge.
//   - http.conf's sessionlimit (100 by default) counts TCP connections,
//     kept alive or busy, not requests: a connection beyond it is closed
//     without its request being read or answered, so the client sees EOF
//     or a reset. A WebSocket stops counting once upgraded, and a
//     connection idle for 15 s (session_keep_alive) is closed.
package aritest
