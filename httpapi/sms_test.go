package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
)

const formType = "application/x-www-form-urlencoded"

// twilioPost signs form for the test server's URL as Twilio would.
func (e *env) twilioPost(form url.Values, token string) response {
	e.t.Helper()
	sig := twilioSignature(token, e.srv.URL+"/sms/inbound", form)
	return e.do(http.MethodPost, "/sms/inbound", formType, form.Encode(), header("X-Twilio-Signature", sig))
}

func (e *env) requestsFor(cli string) []*callback.Request {
	e.t.Helper()
	rows, err := e.store.ListRequests(e.t.Context(), callback.RequestFilter{CLI: cli})
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func TestSMSGateways(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t), func(o *Options) { o.Limits = &Limits{} })
		tests := []struct {
			name   string
			send   func() response
			cli    string
			cld    string
			twiml  bool
			source string
		}{
			{"Twilio form with signature", func() response {
				return e.twilioPost(url.Values{"From": {"+4930111222"}, "To": {"+4930999"}, "Body": {"call +44 20 7946 0958 please"},
					"MessageSid": {"SM0001"}, "AccountSid": {"AC1"}}, twilioToken)
			}, "4930111222", "2way_+442079460958", true, ""},
			{"Vonage form with secret header", func() response {
				return e.do(http.MethodPost, "/sms/inbound", formType,
					url.Values{"msisdn": {"004917012345"}, "to": {"4930999"}, "text": {"hello"}, "messageId": {"V1"}}.Encode(),
					header("X-Callbackd-Secret", smsSecret))
			}, "4917012345", "callingcard", false, ""},
			{"generic JSON with secret query", func() response {
				return e.do(http.MethodPost, "/sms/inbound?secret="+url.QueryEscape(smsSecret), "application/json",
					`{"from":"+49 30 111 222","to":"4930999","text":"4930123456","id":"G1","extra":{"ignored":true}}`)
			}, "4930111222", "2way_4930123456", false, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// One pending callback per number: clear the earlier one.
				for _, r := range e.requestsFor(tt.cli) {
					if _, err := e.store.Cancel(t.Context(), r.ID, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				before := len(e.requestsFor(tt.cli))
				r := tt.send()
				if r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r.body)
				}
				if tt.twiml != strings.Contains(string(r.body), "<Response></Response>") {
					t.Errorf("reply %q", r.body)
				}
				rows := e.requestsFor(tt.cli)
				if len(rows) != before+1 {
					t.Fatalf("%d requests for %s, want %d", len(rows), tt.cli, before+1)
				}
				got := rows[len(rows)-1]
				if got.OriginalCLD != tt.cld || got.Source != callback.SourceSMS || got.Finished {
					t.Errorf("created %+v", got)
				}
			})
		}
		t.Run("redelivery and repeats make one callback", func(t *testing.T) {
			form := url.Values{"From": {"+4930111222"}, "Body": {"call 4930123456"}, "MessageSid": {"SM0001"}}
			before := len(e.requestsFor("4930111222"))
			for range 3 {
				if r := e.twilioPost(form, twilioToken); r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r.body)
				}
			}
			if n := len(e.requestsFor("4930111222")); n != before {
				t.Errorf("%d requests, want %d", n, before)
			}
		})
	})
}

func TestSMSRefusals(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) {
		o.Limits = &Limits{PerSender: limiter.Limit{Every: time.Hour, Burst: 1}}
	})
	secret := header("X-Callbackd-Secret", smsSecret)
	tests := []struct {
		name    string
		ct      string
		body    string
		creds   []cred
		status  int
		logWant string
	}{
		{"unknown sender", formType, "From=%2B15550001111&Body=call+12345", []cred{secret}, 200, "SMS from an unknown sender"},
		{"alphanumeric sender", formType, "From=VODAFONE&Body=hi", []cred{secret}, 200, "cannot be called back"},
		{"no sender", formType, "Body=hi", []cred{secret}, 400, ""},
		{"wrong secret", formType, "From=%2B4930111222&Body=hi", []cred{header("X-Callbackd-Secret", "nope")}, 401, "SMS webhook refused"},
		{"no secret", formType, "From=%2B4930111222&Body=hi", nil, 401, "SMS webhook refused"},
		{"forged Twilio signature", formType, "From=%2B4930111222&Body=hi&MessageSid=SM9", []cred{header("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")}, 401, ""},
		{"text/plain", "text/plain", "From=+4930111222", []cred{secret}, 415, ""},
		{"malformed JSON", "application/json", `{"from":`, []cred{secret}, 400, ""},
		{"destination too long", formType, "From=4917012345&Body=call+" + strings.Repeat("1", 40), []cred{secret}, 200, "no usable destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/sms/inbound", tt.ct, tt.body, tt.creds...)
			if r.status != tt.status {
				t.Fatalf("%d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.logWant != "" && !strings.Contains(e.logs.String(), tt.logWant) {
				t.Errorf("log lacks %q:\n%s", tt.logWant, e.logs.String())
			}
		})
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d requests stored from refused SMS", n)
	}
	t.Run("rate limit per sender", func(t *testing.T) {
		form := "From=4930111222&Body=hi"
		if r := e.do(http.MethodPost, "/sms/inbound", formType, form, secret); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		rows := e.requestsFor("4930111222")
		if len(rows) != 1 {
			t.Fatalf("%d requests", len(rows))
		}
		if _, err := e.store.Cancel(t.Context(), rows[0].ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := e.do(http.MethodPost, "/sms/inbound", formType, form, secret); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if n := len(e.requestsFor("4930111222")); n != 1 {
			t.Errorf("%d requests after the limit", n)
		}
		if !strings.Contains(e.logs.String(), "rate limit per sender") {
			t.Error("the limit was not logged")
		}
	})
	logs := e.logs.String()
	for _, s := range []string{"15550001111", smsSecret, twilioToken} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	if !strings.Contains(logs, "sender=*********111") {
		t.Errorf("the unknown sender is not logged masked:\n%s", logs)
	}
}

func TestSMSNotConfigured(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) { o.SMS = SMSOptions{} })
	r := e.do(http.MethodPost, "/sms/inbound?secret=", formType, "From=4930111222&Body=hi")
	if r.status != http.StatusNotFound {
		t.Errorf("%d %s", r.status, r.body)
	}
}

func TestTwilioSignatureVector(t *testing.T) {
	// The example of Twilio's request-validation documentation.
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	if got := twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Errorf("signature %s", got)
	}
}

func TestSMSDestination(t *testing.T) {
	tests := []struct {
		text, want string
		err        bool
	}{
		{"", "", false},
		{"call me", "", false},
		{"call me in 5 minutes", "", false},
		{"4930123456", "4930123456", false},
		{"call 4930123456", "4930123456", false},
		{"Call +49 30 123-456.", "+4930123456", false},
		{"(030) 1234567", "0301234567", false},
		{"in 5 min call 4930123456 pls", "4930123456", false},
		{"+", "", false},
		{"12", "", false},
		{"030/123 45", "03012345", false},
		{"123. Thanks 456", "123", false},
		{"call " + strings.Repeat("9", 33), "", true},
		{"\u0664\u0669\u0663", "", false}, // Arabic-Indic digits are not dialable
	}
	for _, tt := range tests {
		got, err := smsDestination(tt.text)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("%q: %q, %v; want %q, error %v", tt.text, got, err, tt.want, tt.err)
		}
	}
}

func TestNormalizeSender(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+4930111222", "4930111222"},
		{"004930111222", "4930111222"},
		{"+49 (30) 111-222", "4930111222"},
		{"4930111222", "4930111222"},
		{"VODAFONE", ""},
		{"+", ""},
		{"1234567890123456", ""},
	}
	for _, tt := range tests {
		got, ok := normalizeSender(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q: %q %v", tt.in, got, ok)
		}
	}
}
