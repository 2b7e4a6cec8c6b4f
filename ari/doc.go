// Package ari is callbackd's ARI controller: it talks to Asterisk 22 over
// the Asterisk REST Interface to place the legs of a callback, and runs the
// sub-application (the 2-way callback or the calling card) once the user
// answers, or on an inbound call the dialplan hands over. It implements callback.Dialer for the dispatcher in
// package callback; its neighbour on the other side is Asterisk's HTTP
// server (REST requests, and the events WebSocket /ari/events).
//
// # One attempt
//
// Dial places leg A with POST /ari/channels, a deterministic channelId
// (cbd-<request>-<attempt>-a, or the request's preset call_id) recorded
// with Call.FirstLegInitiated before the originate, so that a re-sent
// originate gets 409 from Asterisk instead of ringing the user twice. An
// originate whose answer is lost with its connection is never re-sent
// blindly: GET /channels/{id} and the channel's events (Dial at once,
// ChannelDestroyed if it ended) tell whether Asterisk made the channel,
// and only one it never made is originated again in the same attempt.
// Asterisk sends StasisStart only once leg A answers; ChannelDestroyed
// before that ends the attempt with the cause (the dispatcher retries).
// After the answer the sub-application registered for the request's
// original_cld runs against a Session.
//
// The 2-way callback creates leg B with POST /ari/channels/create, adds
// both legs to a mixing bridge and only then dials B. Asterisk's
// app_control_dial leaves a channel that is already bridged in that bridge
// instead of its hidden dial bridge, so the ringing indication and early
// media (183) of the destination reach the user at once: chan_pjsip
// declines the RINGING indication on the answered leg A, so Asterisk's core
// plays the ring tone in-band, and the first audio frame from B stops it. No request is needed at answer
// time, so there is no gap of silence, and the dial timeout is enforced by
// Asterisk's bridge interval hook.
//
// # Asterisk's HTTP session limit
//
// Asterisk counts HTTP connections, busy or kept alive, against http.conf's
// sessionlimit (default 100) and closes those beyond it unanswered. The
// controller keeps at most WithMaxRequests requests in flight and as many
// connections open (default 50); the rest queue, requests of calls under
// way before originates of new ones. Requests that are safe to repeat
// (GET, DELETE, PUT, and bridge, create and dial requests that name their
// objects) are sent again after a connection error.
//
// # Identity
//
// A request with an md5secret (an HA1) is placed as its authname: before
// the originate the controller pushes a PJSIP auth object (auth_type,
// username, md5_cred, realm) and an endpoint object (the trunk endpoint's
// transport, AOR and media settings, outbound_auth pointing at the auth)
// through PUT /ari/asterisk/config/dynamic/res_pjsip/{auth,endpoint}/<id>,
// dials through that endpoint, and deletes both when the call ends. Asterisk
// only accepts those writes when sorcery.conf maps res_pjsip's auth and
// endpoint types to the memory wizard in addition to pjsip.conf:
//
//	[res_pjsip]
//	endpoint=config,pjsip.conf,criteria=type=endpoint
//	endpoint=memory
//	auth=config,pjsip.conf,criteria=type=auth
//	auth=memory
//
// # Inbound calls
//
// A channel that the dialplan sends to Stasis(<app>,ivr,<access number>)
// is the caller's own, unanswered call (an access number's Mizu mode wants
// the IVR on it). The controller parks it (its events collect in a route
// of their own), rings it back and calls the InboundFunc given with
// WithInbound, which creates a request of source ivr whose call_id is the
// channel and has the dispatcher run it on this node at once. Dial then
// takes the parked channel over as leg A, answers it and runs the
// sub-application; it never originates anything to the caller. A refused
// caller is released unanswered with the cause of its SIP code; a caller
// nobody takes over is released after the wait; a caller of this
// application found in Stasis with no owner on reconnect is released too.
//
// # Concurrency and recovery
//
// One goroutine owns one call: the dispatcher's goroutine that calls Dial.
// The WebSocket reader routes each event by channel id to that call's
// buffered channel and never blocks: when a call's buffer is full the event
// is dropped, counted, and the call rebuilds its view from the REST
// interface. The only shared state is the routing map. Sub-applications
// read events through Session.Next, so that the session sees every event
// and keeps its view of the legs.
//
// Run reconnects with exponential backoff and full jitter (capped at 1 s)
// and, after every connect and before WaitReady releases the dispatcher,
// reconciles: calls whose channels Asterisk no longer lists are ended
// (Asterisk restarted), calls whose channels live are told their state (an
// answer may have been lost with the connection), and channels of ours
// that no call owns (left by a killed process) are hung up. Every channel
// carries the Stasis arguments "callbackd,<request>,<attempt>,<leg>", so a
// StasisStart that no call claims is recognised and hung up too. A leg
// that hears nothing from Asterisk past its dial timeout is hung up by a
// watchdog. Before attempt n of a request, the channels, bridge and
// configuration objects of attempts 1..n-1 are deleted (404 is fine), so
// that a rescued request never rings the user twice.
//
// Limits: WithMaxChannels caps live channels, two reserved per call before
// leg A is placed (so that no call waits for a second-leg slot held by
// another call's first leg); Trunk.CallsPerSecond spaces new legs on a
// trunk, waiting for a token, never dropping a call. Max Sessions per
// account is the dispatcher's.
//
// # Several Asterisk servers
//
// WithServer adds an Asterisk server; each has its own events WebSocket,
// REST client (WithMaxRequests bounds each), reconnect backoff and
// reconciliation, run side by side by Run. A new call is placed on the
// connected server with the fewest channels reserved by this controller
// that has room under its cap (Server.MaxChannels, two per call) and has a
// trunk of leg A's route (Server.Trunks); ties go to the first configured.
// Every channel, bridge and PJSIP object of the call is then made on that
// server, and its ids carry the server's name
// (<prefix>-<server>-<request>-<attempt>-a), so that the server of a
// request's previous attempt is known from its call_id. An inbound IVR
// call is served on the server it entered Stasis on. Without WithServer,
// WithURL names the only server and ids carry no name, as before.
//
// A server whose WebSocket drops, or that refuses a connection for a REST
// request (its WebSocket is then dropped too), is passed over at once until
// it has reconnected and been reconciled; one that stays
// unreachable for a second (serverDownAfter) has its calls ended: each of
// its channels is told gone, as after an Asterisk restart, and each call
// settles as it would then (a conversation as Successful, an unanswered
// leg A as a failed attempt to retry). The next attempt of such a request
// first hangs up the previous attempt's channels on their server; while
// that server cannot be reached and the previous leg A may still ring
// there (its originate timeout has not run out since its setup time), the
// attempt is not placed and the request goes back to the queue uncounted.
// So a request is never rung on two servers at once, whether the server
// died or only the network to it, and whether this process placed the
// previous attempt or one whose lease expired. When the server is back,
// its reconciliation hangs up channels of ours that no call owns.
//
// # What comes from github.com/CyCoreSystems/ari/v5
//
// The event types and their decoding (ari.DecodeEvent, ari.StasisStart,
// ari.ChannelDestroyed, ari.Dial, ...): they follow Asterisk's data models
// closely and are well tested. Not its client: its REST calls take no
// context, its WebSocket flags are unsynchronised and it reconnects on a
// fixed one-second timer. The REST client here sets a deadline on every
// request and returns errors callers branch on (ErrNotFound, ErrConflict,
// ErrUnprocessable, ErrServer, ErrUnreachable); the WebSocket is
// github.com/coder/websocket. The tech_cause of ChannelDestroyed (the SIP
// code behind the cause), which the library's types lack, is read
// alongside.
package ari
