package aritest

import (
	"net/http"
	"testing"
	"time"
)

// A created channel is in Stasis only from its StasisStart: before it,
// Asterisk's find_channel_control (resource_bridges.c) answers
// addChannel 422 and find_control (resource_channels.c) answers dial 409;
// after it both are accepted.
func TestCreatedChannelNotInStasisUntilStasisStart(t *testing.T) {
	s := NewT(t, WithStasisEntryDelay(2*time.Second))
	l := listen(t, s, "app="+app)
	mustCode(t, call(t, s, "POST", "/channels/create?endpoint=PJSIP/1@trunk&app="+app+"&channelId=b", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges?bridgeId=br", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br/addChannel?channel=b", nil), http.StatusUnprocessableEntity)
	mustCode(t, call(t, s, "POST", "/channels/b/dial", nil), http.StatusConflict)
	l.waitType("b", "StasisStart")
	mustCode(t, call(t, s, "POST", "/bridges/br/addChannel?channel=b", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/b/dial", nil), http.StatusNoContent)
}
