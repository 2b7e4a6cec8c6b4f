package callback

import (
	"fmt"
	"slices"
)

// Cause is a Q.850 hangup cause as Asterisk reports it (ChannelDestroyed
// "cause", the HANGUPCAUSE variable, Hangup(<cause>)).
type Cause int

// The causes callbackd branches on.
const (
	CauseUnknown          Cause = 0
	CauseUnallocated      Cause = 1
	CauseNoRouteDest      Cause = 3
	CauseNormalClearing   Cause = 16
	CauseUserBusy         Cause = 17
	CauseNoUserResponse   Cause = 18
	CauseNoAnswer         Cause = 19
	CauseSubscriberAbsent Cause = 20
	CauseCallRejected     Cause = 21
	CauseDestOutOfOrder   Cause = 27
	CauseInvalidNumber    Cause = 28
	CauseNormalUnspec     Cause = 31
	CauseCongestion       Cause = 34
	CauseNetworkOutOfOrd  Cause = 38
	CauseTemporaryFailure Cause = 41
	CauseInterworking     Cause = 127
)

// CauseInfo is one row of the cause table (E9).
type CauseInfo struct {
	Cause Cause
	Name  string // Asterisk's name (ast_cause2str_name), e.g. USER_BUSY
	Text  string // Asterisk's text (ast_cause2str), sent as cause_txt
	// SIP is the code chan_pjsip sends when a channel is hung up with this
	// cause (hangup_cause2sip in channels/chan_pjsip.c); 0 means chan_pjsip
	// has no mapping and sends 603 on an unanswered call.
	SIP int
	// MOR is the SIP code Kolmisoft MOR lists for this cause in its Callback
	// Hangup Cause table (seed 004); 0 when MOR does not list it.
	MOR int
}

// causeTable holds Asterisk 22's causes (main/channel.c causes[]) with
// chan_pjsip's SIP code and MOR's. Where MOR and Asterisk differ (22, 23) the
// SIP column is what a real Asterisk puts on the wire; MOR's is kept for
// operators migrating from it.
var causeTable = []CauseInfo{
	{1, "UNALLOCATED", "Unallocated (unassigned) number", 404, 404},
	{2, "NO_ROUTE_TRANSIT_NET", "No route to specified transmit network", 404, 404},
	{3, "NO_ROUTE_DESTINATION", "No route to destination", 404, 404},
	{5, "MISDIALLED_TRUNK_PREFIX", "Misdialed trunk prefix", 0, 0},
	{6, "CHANNEL_UNACCEPTABLE", "Channel unacceptable", 0, 0},
	{7, "CALL_AWARDED_DELIVERED", "Call awarded and being delivered in an established channel", 0, 0},
	{8, "PRE_EMPTED", "Pre-empted", 0, 0},
	{14, "NUMBER_PORTED_NOT_HERE", "Number ported elsewhere", 0, 0},
	{16, "NORMAL_CLEARING", "Normal Clearing", 0, 0},
	{17, "USER_BUSY", "User busy", 486, 486},
	{18, "NO_USER_RESPONSE", "No user responding", 408, 408},
	{19, "NO_ANSWER", "User alerting, no answer", 480, 480},
	{20, "SUBSCRIBER_ABSENT", "Subscriber absent", 480, 480},
	{21, "CALL_REJECTED", "Call Rejected", 403, 403},
	{22, "NUMBER_CHANGED", "Number changed", 410, 301},
	{23, "REDIRECTED_TO_NEW_DESTINATION", "Redirected to new destination", 302, 410},
	{26, "ANSWERED_ELSEWHERE", "Answered elsewhere", 0, 404},
	{27, "DESTINATION_OUT_OF_ORDER", "Destination out of order", 502, 502},
	{28, "INVALID_NUMBER_FORMAT", "Invalid number format", 484, 484},
	{29, "FACILITY_REJECTED", "Facility rejected", 501, 501},
	{30, "RESPONSE_TO_STATUS_ENQUIRY", "Response to STATus ENQuiry", 0, 0},
	{31, "NORMAL_UNSPECIFIED", "Normal, unspecified", 480, 480},
	{34, "NORMAL_CIRCUIT_CONGESTION", "Circuit/channel congestion", 503, 0},
	{38, "NETWORK_OUT_OF_ORDER", "Network out of order", 500, 0},
	{41, "NORMAL_TEMPORARY_FAILURE", "Temporary failure", 0, 0},
	{42, "SWITCH_CONGESTION", "Switching equipment congestion", 503, 0},
	{43, "ACCESS_INFO_DISCARDED", "Access information discarded", 0, 0},
	{44, "REQUESTED_CHAN_UNAVAIL", "Requested channel not available", 0, 0},
	{50, "FACILITY_NOT_SUBSCRIBED", "Facility not subscribed", 0, 0},
	{52, "OUTGOING_CALL_BARRED", "Outgoing call barred", 0, 0},
	{54, "INCOMING_CALL_BARRED", "Incoming call barred", 0, 0},
	{57, "BEARERCAPABILITY_NOTAUTH", "Bearer capability not authorized", 0, 0},
	{58, "BEARERCAPABILITY_NOTAVAIL", "Bearer capability not available", 488, 0},
	{65, "BEARERCAPABILITY_NOTIMPL", "Bearer capability not implemented", 0, 0},
	{66, "CHAN_NOT_IMPLEMENTED", "Channel not implemented", 503, 0},
	{69, "FACILITY_NOT_IMPLEMENTED", "Facility not implemented", 0, 0},
	{81, "INVALID_CALL_REFERENCE", "Invalid call reference value", 0, 0},
	{88, "INCOMPATIBLE_DESTINATION", "Incompatible destination", 0, 0},
	{95, "INVALID_MSG_UNSPECIFIED", "Invalid message unspecified", 0, 0},
	{96, "MANDATORY_IE_MISSING", "Mandatory information element is missing", 0, 0},
	{97, "MESSAGE_TYPE_NONEXIST", "Message type nonexist.", 0, 0},
	{98, "WRONG_MESSAGE", "Wrong message", 0, 0},
	{99, "IE_NONEXIST", "Info. element nonexist or not implemented", 0, 0},
	{100, "INVALID_IE_CONTENTS", "Invalid information element contents", 0, 0},
	{101, "WRONG_CALL_STATE", "Message not compatible with call state", 0, 0},
	{102, "RECOVERY_ON_TIMER_EXPIRE", "Recover on timer expiry", 0, 0},
	{103, "MANDATORY_IE_LENGTH_ERROR", "Mandatory IE length error", 0, 0},
	{111, "PROTOCOL_ERROR", "Protocol error, unspecified", 0, 0},
	{127, "INTERWORKING", "Interworking, unspecified", 500, 0},
}

// CauseTable returns a copy of the cause table in cause order.
func CauseTable() []CauseInfo { return slices.Clone(causeTable) }

// LookupCause returns the table row of c.
func LookupCause(c Cause) (CauseInfo, bool) {
	i, ok := slices.BinarySearchFunc(causeTable, c, func(ci CauseInfo, c Cause) int { return int(ci.Cause) - int(c) })
	if !ok {
		return CauseInfo{}, false
	}
	return causeTable[i], true
}

func (c Cause) String() string {
	if ci, ok := LookupCause(c); ok {
		return ci.Name
	}
	return fmt.Sprintf("CAUSE_%d", int(c))
}

// SIPCode is the SIP response chan_pjsip sends for c on an unanswered
// channel: its mapping, or 603 Decline where it has none.
func (c Cause) SIPCode() int {
	if ci, ok := LookupCause(c); ok && ci.SIP != 0 {
		return ci.SIP
	}
	return 603
}

// CauseFromSIP maps a SIP final response to the Q.850 cause Asterisk
// reports for it (ast_sip_hangup_sip2cause in res/res_pjsip.c).
func CauseFromSIP(code int) Cause {
	switch code {
	case 302:
		return 23
	case 401, 403, 407, 603:
		return CauseCallRejected
	case 404, 485, 604:
		return CauseUnallocated
	case 405, 411, 413, 414, 415, 481, 482, 487, 491, 493, 505:
		return CauseInterworking
	case 408:
		return CauseNoUserResponse
	case 409:
		return CauseTemporaryFailure
	case 410:
		return 22
	case 420:
		return CauseNoRouteDest
	case 480, 483:
		return CauseNoAnswer
	case 484:
		return CauseInvalidNumber
	case 486, 600:
		return CauseUserBusy
	case 488, 606:
		return 58
	case 500:
		return CauseNetworkOutOfOrd
	case 501:
		return 29
	case 502:
		return CauseDestOutOfOrder
	case 503:
		return CauseCongestion
	case 504:
		return 102
	}
	switch {
	case code >= 400 && code < 500:
		return CauseInterworking
	case code >= 500 && code < 600:
		return CauseCongestion
	case code >= 600 && code < 700:
		return CauseInterworking
	}
	return CauseNormalClearing
}

// HangupSIPCodes are the codes the seed's "Hangup SIP Response Code"
// option accepts (seed 000, "Supported hangup SIP response codes").
var HangupSIPCodes = []int{403, 404, 408, 410, 480, 484, 486, 488, 500, 501, 502, 503, 603}

// RejectCause returns the Q.850 cause that makes chan_pjsip send code on an
// unanswered channel, for channels where PJSIPHangup cannot be used. 603 has
// no cause of its own: chan_pjsip sends 603 for NORMAL_CLEARING.
func RejectCause(code int) (Cause, error) {
	if !slices.Contains(HangupSIPCodes, code) {
		return 0, &ValidationError{Field: "Hangup SIP Response Code", Reason: fmt.Sprintf("%d is not one of %v", code, HangupSIPCodes)}
	}
	switch code {
	case 603:
		return CauseNormalClearing, nil
	case 480:
		return CauseNoAnswer, nil
	case 500:
		return CauseNetworkOutOfOrd, nil
	case 503:
		return CauseCongestion, nil
	}
	for _, ci := range causeTable {
		if ci.SIP == code {
			return ci.Cause, nil
		}
	}
	return CauseNormalClearing, nil
}

// NoAnswer reports whether c means the callee never answered; Asterisk
// releases before 22.8 sometimes reported 0 on an originate timeout.
func (c Cause) NoAnswer() bool {
	return c == CauseNoAnswer || c == CauseNoUserResponse || c == CauseUnknown
}
