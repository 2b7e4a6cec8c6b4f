package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/callbackd/callbackd/callback"
)

// SMSOptions configures the inbound-SMS trigger (T10). With neither a
// Secret nor a TwilioAuthToken the webhook is off and answers 404.
type SMSOptions struct {
	// Secret is the shared secret the gateway sends in the
	// X-Callbackd-Secret header or as the secret query parameter.
	Secret string
	// TwilioAuthToken enables Twilio's X-Twilio-Signature (HMAC-SHA1 of
	// the URL and the sorted form parameters).
	TwilioAuthToken string
	// PublicURL is the scheme and host the gateway posts to, as it sees
	// them (e.g. https://cb.example.com), for the Twilio signature; empty:
	// taken from the request, which is wrong behind a TLS proxy.
	PublicURL string
}

func (o SMSOptions) enabled() bool { return o.Secret != "" || o.TwilioAuthToken != "" }

// inboundSMS is an SMS as a gateway delivers it, whatever its dialect.
type inboundSMS struct {
	from, text, id string
	twilio         bool
}

// The field names of the gateways, first match wins: Twilio (From, Body,
// MessageSid), Vonage/Nexmo (msisdn, text, messageId), and a generic form
// (from, text, id).
var (
	smsFromKeys = []string{"From", "msisdn", "from"}
	smsTextKeys = []string{"Body", "text", "Text", "body"}
	smsIDKeys   = []string{"MessageSid", "SmsSid", "messageId", "message-id", "message_id", "id"}
)

// parseSMS reads the body by its content type: form-encoded or JSON.
func parseSMS(contentType string, body []byte) (inboundSMS, error) {
	get := func(keys []string, lookup func(string) string) string {
		for _, k := range keys {
			if v := lookup(k); v != "" {
				return v
			}
		}
		return ""
	}
	var lookup func(string) string
	var twilio bool
	switch {
	case isMediaType(contentType, "application/x-www-form-urlencoded"):
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return inboundSMS{}, newError(http.StatusBadRequest, CodeMalformedRequest, "malformed form body")
		}
		lookup = form.Get
		twilio = form.Get("MessageSid") != "" || form.Get("AccountSid") != ""
	case isMediaType(contentType, "application/json"):
		// Gateways add fields of their own; only the size is strict here.
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || dec.More() {
			return inboundSMS{}, newError(http.StatusBadRequest, CodeMalformedRequest, "want one JSON object")
		}
		lookup = func(k string) string {
			switch v := m[k].(type) {
			case string:
				return v
			case json.Number:
				return v.String()
			}
			return ""
		}
	default:
		return inboundSMS{}, newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"send application/x-www-form-urlencoded or application/json")
	}
	msg := inboundSMS{from: get(smsFromKeys, lookup), text: get(smsTextKeys, lookup), id: get(smsIDKeys, lookup), twilio: twilio}
	if msg.from == "" {
		return inboundSMS{}, invalid("from", "no sender number (From, msisdn or from)")
	}
	return msg, nil
}

// smsAuthorized checks the shared secret, or Twilio's signature. Both
// comparisons take the same time wherever the inputs differ.
func (a *api) smsAuthorized(r *http.Request, body []byte) bool {
	if a.sms.Secret != "" {
		got := r.Header.Get("X-Callbackd-Secret")
		if got == "" {
			got = r.URL.Query().Get("secret")
		}
		if got != "" {
			g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(a.sms.Secret))
			if subtle.ConstantTimeCompare(g[:], w[:]) == 1 {
				return true
			}
		}
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if a.sms.TwilioAuthToken == "" || sig == "" || !isMediaType(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return false
	}
	base := a.sms.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	want := twilioSignature(a.sms.TwilioAuthToken, strings.TrimRight(base, "/")+r.URL.RequestURI(), form)
	return subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1
}

// twilioSignature is Twilio's request signature: base64 of HMAC-SHA1, keyed
// with the auth token, over the full URL followed by each POST parameter's
// name and value, sorted by name.
func twilioSignature(token, fullURL string, form url.Values) string {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(fullURL))
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		// Twilio's own validators take each distinct value once, in order.
		vals := slices.Compact(slices.Sorted(slices.Values(form[k])))
		for _, v := range vals {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// normalizeSender turns a sender number into the form accounts are looked
// up by (callback.NormalizeCLI without a region: digits without a leading
// + or 00). Alphanumeric sender ids are refused: nobody can be called back
// there.
func normalizeSender(s string) (string, bool) {
	n, err := callback.NormalizeCLI(s, "", "", "")
	return n, err == nil
}

// smsDestination finds the number to connect to in the text ("call
// 4930123456", "+49 30 123456", or just the number): the first run of at
// least three digits, with an optional + and the separators people type.
// A text without one asks for the calling card.
func smsDestination(text string) (string, error) {
	const minDigits = 3
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '+' && (c < '0' || c > '9') {
			continue
		}
		var b strings.Builder
		j := i
		if c == '+' {
			b.WriteByte('+')
			j++
		}
		digits := 0
		for ; j < len(text); j++ {
			d := text[j]
			if d >= '0' && d <= '9' {
				b.WriteByte(d)
				digits++
				continue
			}
			// Separators only count inside a number: "030) 123" goes on,
			// "123. Thanks" ends.
			k := j
			for k < len(text) && isSeparator(text[k]) {
				k++
			}
			if k > j && k < len(text) && text[k] >= '0' && text[k] <= '9' {
				j = k - 1
				continue
			}
			break
		}
		if digits >= minDigits {
			dest := b.String()
			if !callback.ValidDestination(dest) {
				return "", fmt.Errorf("%d digits is not a number that can be called", digits)
			}
			return dest, nil
		}
		i = j
	}
	return "", nil
}

func isSeparator(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/'
}

// mask hides all but the last three characters of a number in logs.
func mask(s string) string {
	if len(s) <= 3 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-3) + s[len(s)-3:]
}

const smsKeyPrefix = "sms:"

// handleSMS is the inbound-SMS trigger: the sender's number identifies the
// account, the callback goes to the sender, to the number in the text
// (2-way) or to the calling card. Whatever is refused for good (unknown or
// unusable sender, limit, bad text) is answered 200 with an empty reply, so
// the gateway does not retry and the sender gets no SMS back; only store
// failures answer 5xx, for the gateway to retry. The insert is one
// statement, so a retry never finds half a request.
func (a *api) handleSMS(w http.ResponseWriter, r *http.Request) {
	if !a.sms.enabled() {
		a.writeError(w, r, newError(http.StatusNotFound, CodeNotFound, "the SMS trigger is not configured"))
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !a.smsAuthorized(r, body) {
		a.log.Warn("SMS webhook refused: wrong or missing secret or signature", "source", clientAddrOf(r), "http_request_id", infoOf(r).id)
		a.writeError(w, r, newError(http.StatusUnauthorized, CodeUnauthenticated, badCredentials))
		return
	}
	msg, err := parseSMS(r.Header.Get("Content-Type"), body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	reply := func() {
		if msg.twilio {
			writeXML(w, http.StatusOK, []byte(xmlHeader+"<Response></Response>\n"))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK\n"))
	}
	log := a.log.With("sender", mask(msg.from), "http_request_id", infoOf(r).id)

	sender, ok := normalizeSender(msg.from)
	if !ok {
		log.Warn("SMS from a sender that cannot be called back; nothing created")
		reply()
		return
	}
	if ok, _ := a.perSender.TakeContext(r.Context(), sender); !ok {
		log.Warn("SMS refused: rate limit per sender exceeded; nothing created")
		reply()
		return
	}
	ctx := r.Context()
	acct, err := a.store.AccountByCLI(ctx, sender)
	switch {
	case errors.Is(err, callback.ErrNotFound):
		log.Warn("SMS from an unknown sender; nothing created")
		reply()
		return
	case err != nil:
		a.writeError(w, r, fmt.Errorf("SMS trigger: look up sender: %w", err))
		return
	case acct.Blocked:
		log.Warn("SMS from a blocked account; nothing created", "account", acct.Username)
		reply()
		return
	}
	setAccount(r, principal{username: acct.Username})
	log = log.With("account", acct.Username)

	dest, err := smsDestination(msg.text)
	if err != nil {
		log.Warn("SMS refused: the text holds no usable destination; nothing created", "reason", err.Error())
		reply()
		return
	}
	pending, err := a.store.PendingForCLI(ctx, sender)
	switch {
	case err == nil:
		log.Info("SMS: a callback to the sender is already pending", "request_id", pending.ID)
		reply()
		return
	case !errors.Is(err, callback.ErrNotFound):
		a.writeError(w, r, fmt.Errorf("SMS trigger: pending request: %w", err))
		return
	}

	req := callback.NewRequest(callback.SourceSMS)
	req.Username = acct.Username
	req.OriginalCLI = sender
	req.OriginalCLD = string(callback.SubAppCallingCard)
	if dest != "" {
		req.OriginalCLD, req.Destination = "2way_"+dest, dest
	}
	req.Language = acct.Language
	if validKey(msg.id) {
		// The gateway's message id makes its redeliveries harmless.
		req.RequestKey = smsKeyPrefix + msg.id
	}
	err = a.svc.Create(ctx, req)
	var ve *callback.ValidationError
	switch {
	case err == nil:
		log.Info("SMS callback queued", "request_id", req.ID, "original_cld", req.OriginalCLD)
	case errors.Is(err, callback.ErrConflict) && req.RequestKey != "":
		log.Info("SMS delivered again; its callback exists")
	case errors.As(err, &ve):
		log.Warn("SMS refused: the request breaks a rule; nothing created", "field", ve.Field, "reason", ve.Reason)
	default:
		a.writeError(w, r, err)
		return
	}
	reply()
}
