package aritest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// legB creates a second leg with originator a and the caller-ID variables
// callbackd used to rely on, and waits until it is in Stasis.
func legB(t *testing.T, s *Sim, l *listener, a, id, number string) {
	t.Helper()
	body := map[string]any{"variables": map[string]string{
		"CALLERID(num)": "801", "CONNECTEDLINE(num,i)": "801", "PJSIP_HEADER(add,X-2Way-Need-Bind)": "yes",
	}}
	mustCode(t, call(t, s, "POST", "/channels/create?app="+app+"&endpoint=PJSIP/"+number+"@trunk&channelId="+id+"&originator="+a, body), http.StatusOK)
	l.waitType(id, "StasisStart")
}

func waitInvite(t *testing.T, s *Sim, id string) Invite {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inv, err := s.WaitInvite(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestCreatedLegPresentsBridgePeersCaller pins what Asterisk 22 puts in the
// From of a channel created with an originator and dialled over ARI: its
// connected line when chan_pjsip builds the INVITE, which a two-party
// bridge has overwritten with the other leg's caller. CONNECTEDLINE set at
// create time only survives when the leg is dialled outside such a bridge.
func TestCreatedLegPresentsBridgePeersCaller(t *testing.T) {
	s := NewT(t)
	s.Phone("87654321", Answer(time.Millisecond))
	s.Phone("12345", Answer(time.Millisecond))
	l := listen(t, s, "app="+app)

	// Leg A without a callerId: Asterisk anonymises the From.
	a0 := originate(t, s, "endpoint=PJSIP/87654321@trunk&channelId=a0")
	if inv := waitInvite(t, s, a0); !inv.Anonymous() || inv.Number != "87654321" || inv.Endpoint != "trunk" {
		t.Fatalf("leg A without callerId sent %+v, want From \"Anonymous\" <sip:anonymous@...>", inv)
	}
	l.waitType(a0, "StasisStart")
	legB(t, s, l, a0, "b0", "12345")
	r := call(t, s, "POST", "/bridges?type=mixing&bridgeId=br0", nil)
	mustCode(t, r, http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br0/addChannel?channel=a0,b0", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/b0/dial?timeout=5", nil), http.StatusNoContent)
	if inv := waitInvite(t, s, "b0"); !inv.Anonymous() {
		t.Fatalf("leg B bridged with an anonymous leg A sent From %q <%s>: the bridge copies A's (absent) caller over CONNECTEDLINE", inv.FromName, inv.FromUser)
	}

	// Leg A with the access number as callerId: leg B shows it too.
	a1 := originate(t, s, "endpoint=PJSIP/87654321@trunk&channelId=a1&callerId=4930111")
	if inv := waitInvite(t, s, a1); inv.FromUser != "4930111" {
		t.Fatalf("leg A From user %q, want the callerId", inv.FromUser)
	}
	l.waitType(a1, "StasisStart")
	legB(t, s, l, a1, "b1", "12345")
	mustCode(t, call(t, s, "POST", "/bridges?type=mixing&bridgeId=br1", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br1/addChannel?channel=a1,b1", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/b1/dial?timeout=5", nil), http.StatusNoContent)
	inv := waitInvite(t, s, "b1")
	if inv.FromUser != "4930111" {
		t.Fatalf("leg B From user %q: a two-party bridge gives it leg A's caller, 4930111", inv.FromUser)
	}
	if inv.Headers["X-2Way-Need-Bind"] != "yes" {
		t.Fatalf("leg B headers %v", inv.Headers)
	}
	r = call(t, s, "GET", "/channels/b1/variable?variable=CONNECTEDLINE(num)", nil)
	mustCode(t, r, http.StatusOK)

	// Leg A's caller set to the wanted number before the bridge: leg B
	// presents it.
	a2 := originate(t, s, "endpoint=PJSIP/87654321@trunk&channelId=a2&callerId=4930111")
	l.waitType(a2, "StasisStart")
	mustCode(t, call(t, s, "POST", "/channels/a2/variable?variable=CALLERID(num)&value=802", nil), http.StatusNoContent)
	legB(t, s, l, a2, "b2", "12345")
	mustCode(t, call(t, s, "POST", "/bridges?type=mixing&bridgeId=br2", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br2/addChannel?channel=a2,b2", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/b2/dial?timeout=5", nil), http.StatusNoContent)
	if inv := waitInvite(t, s, "b2"); inv.FromUser != "802" {
		t.Fatalf("leg B From user %q, want leg A's caller 802", inv.FromUser)
	}
	for _, e := range l.all() {
		if e.chanID() == a2 && e.Type == "ChannelVarset" && e.Variable == "CALLERID(num)" {
			t.Fatalf("writing CALLERID(num) raised a ChannelVarset; Asterisk writes the function instead")
		}
	}

	// Not bridged before the dial: CONNECTEDLINE set at create time is
	// what the INVITE carries.
	a3 := originate(t, s, "endpoint=PJSIP/87654321@trunk&channelId=a3&callerId=4930111")
	l.waitType(a3, "StasisStart")
	legB(t, s, l, a3, "b3", "12345")
	mustCode(t, call(t, s, "POST", "/channels/b3/dial?timeout=5", nil), http.StatusNoContent)
	if inv := waitInvite(t, s, "b3"); inv.FromUser != "801" {
		t.Fatalf("unbridged leg B From user %q, want its CONNECTEDLINE 801", inv.FromUser)
	}

	// dial?caller= copies the caller's caller ID to the connected line.
	a4 := originate(t, s, "endpoint=PJSIP/87654321@trunk&channelId=a4&callerId=4930111")
	l.waitType(a4, "StasisStart")
	legB(t, s, l, a4, "b4", "12345")
	mustCode(t, call(t, s, "POST", "/channels/b4/dial?timeout=5&caller=a4", nil), http.StatusNoContent)
	if inv := waitInvite(t, s, "b4"); inv.FromUser != "4930111" {
		t.Fatalf("leg B dialled with caller=a4: From user %q, want 4930111", inv.FromUser)
	}

	// A holding bridge updates no connected line.
	a5 := originate(t, s, "endpoint=PJSIP/87654321@trunk&channelId=a5")
	l.waitType(a5, "StasisStart")
	legB(t, s, l, a5, "b5", "12345")
	mustCode(t, call(t, s, "POST", "/bridges?type=holding&bridgeId=br5", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br5/addChannel?channel=a5,b5", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/b5/dial?timeout=5", nil), http.StatusNoContent)
	if inv := waitInvite(t, s, "b5"); inv.FromUser != "801" {
		t.Fatalf("leg B in a holding bridge: From user %q, want its CONNECTEDLINE 801", inv.FromUser)
	}

	if n := len(s.Invites()); n != 12 {
		t.Fatalf("%d INVITEs recorded, want 12", n)
	}
}

// TestLocalChannelSendsNoInvite: a Local channel never reaches SIP.
func TestLocalChannelSendsNoInvite(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=Local/100@test&channelId=loc&callerId=4930111")
	l.waitType(id, "StasisStart")
	if inv := s.Invites(); len(inv) != 0 {
		t.Fatalf("Local channel sent INVITEs %+v", inv)
	}
}
