package aritest

// Q.850 cause codes used by Asterisk (include/asterisk/causes.h).
const (
	CauseUnknown                = 0
	CauseUnallocated            = 1
	CauseNoRouteDestination     = 3
	CauseNormalClearing         = 16
	CauseUserBusy               = 17
	CauseNoUserResponse         = 18
	CauseNoAnswer               = 19
	CauseSubscriberAbsent       = 20
	CauseCallRejected           = 21
	CauseAnsweredElsewhere      = 26
	CauseDestinationOutOfOrder  = 27
	CauseNormalUnspecified      = 31
	CauseCongestion             = 34
	CauseNetworkOutOfOrder      = 38
	CauseNormalTemporaryFailure = 41
	CauseInterworking           = 127
)

// softHangupExplicit is AST_SOFTHANGUP_EXPLICIT: ast_softhangup publishes the
// soft hangup flag, not a Q.850 cause, in ChannelHangupRequest.
const softHangupExplicit = 32

// causeTexts is the description column of main/channel.c causes[], which
// ast_cause2str returns.
var causeTexts = map[int]string{
	1:   "Unallocated (unassigned) number",
	2:   "No route to specified transmit network",
	3:   "No route to destination",
	5:   "Misdialed trunk prefix",
	6:   "Channel unacceptable",
	7:   "Call awarded and being delivered in an established channel",
	8:   "Pre-empted",
	14:  "Number ported elsewhere",
	16:  "Normal Clearing",
	17:  "User busy",
	18:  "No user responding",
	19:  "User alerting, no answer",
	20:  "Subscriber absent",
	21:  "Call Rejected",
	22:  "Number changed",
	23:  "Redirected to new destination",
	26:  "Answered elsewhere",
	27:  "Destination out of order",
	28:  "Invalid number format",
	29:  "Facility rejected",
	30:  "Response to STATus ENQuiry",
	31:  "Normal, unspecified",
	34:  "Circuit/channel congestion",
	38:  "Network out of order",
	41:  "Temporary failure",
	42:  "Switching equipment congestion",
	43:  "Access information discarded",
	44:  "Requested channel not available",
	50:  "Facility not subscribed",
	52:  "Outgoing call barred",
	54:  "Incoming call barred",
	57:  "Bearer capability not authorized",
	58:  "Bearer capability not available",
	65:  "Bearer capability not implemented",
	66:  "Channel not implemented",
	69:  "Facility not implemented",
	81:  "Invalid call reference value",
	88:  "Incompatible destination",
	95:  "Invalid message unspecified",
	96:  "Mandatory information element is missing",
	97:  "Message type nonexist.",
	98:  "Wrong message",
	99:  "Info. element nonexist or not implemented",
	100: "Invalid information element contents",
	101: "Message not compatible with call state",
	102: "Recover on timer expiry",
	103: "Mandatory IE length error",
	111: "Protocol error, unspecified",
	127: "Interworking, unspecified",
}

// CauseText returns the text Asterisk's ast_cause2str gives for a cause, as
// sent in ChannelDestroyed.cause_txt.
func CauseText(cause int) string {
	if t, ok := causeTexts[cause]; ok {
		return t
	}
	return "Unknown"
}

// dialStatusForCause is ast_hangup_cause_to_dial_status from main/dial.c.
func dialStatusForCause(cause int) string {
	switch cause {
	case CauseUserBusy:
		return "BUSY"
	case CauseCongestion:
		return "CONGESTION"
	case CauseNoRouteDestination, CauseSubscriberAbsent:
		return "CHANUNAVAIL"
	default:
		return "NOANSWER"
	}
}

// sipCodeForCause is hangup_cause2sip from channels/chan_pjsip.c: the SIP
// response a phone sends for a cause, reported back as tech_cause.
func sipCodeForCause(cause int) int {
	switch cause {
	case 1, 2, 3:
		return 404
	case 34, 42, 66:
		return 503
	case 18:
		return 408
	case 19, 20, 31:
		return 480
	case 21:
		return 403
	case 22:
		return 410
	case 23:
		return 302
	case 28:
		return 484
	case 17:
		return 486
	case 38, 127:
		return 500
	case 29:
		return 501
	case 27:
		return 502
	case 58:
		return 488
	default:
		return 0
	}
}

// hangupReasons is convert_reason_to_hangup_code from res/ari/resource_channels.c.
var hangupReasons = map[string]int{
	"normal":             16,
	"busy":               17,
	"congestion":         34,
	"no_answer":          19,
	"timeout":            18,
	"rejected":           21,
	"unallocated":        1,
	"normal_unspecified": 31,
	"number_incomplete":  28,
	"codec_mismatch":     58,
	"interworking":       127,
	"failure":            38,
	"answered_elsewhere": 26,
}
