package mail

import (
	"testing"
	"time"

	"github.com/callbackd/callbackd/webhook"
)

// An email request keeps its sender's address, so that the callback's end
// is mailed back to it when replies by email are on.
func TestHandleKeepsReplyAddress(t *testing.T) {
	e := newEnv(t, noLimits)
	ctx := t.Context()
	ws := e.store.(webhook.Store)
	ws.SetWebhookPolicy(webhook.Policy{ReplyEmail: true})
	res, err := e.handler.Handle(ctx, Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "4930111111",
		From: "alice@example.com"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Cancel(ctx, res.Request.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	ds, err := ws.ListDeliveries(ctx, webhook.Filter{RequestID: res.Request.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Channel != webhook.ChannelEmail || ds[0].Address != "alice@example.com" {
		t.Fatalf("outbox of the email request: %+v", ds)
	}
}
