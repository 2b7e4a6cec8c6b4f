package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rest is a small ARI REST client: every call takes a context and gets a
// deadline of its own, and every non-2xx answer becomes an *HTTPError that
// callers branch on.
//
// It never has more than maxRequests requests in flight, nor more TCP
// connections open: Asterisk counts HTTP sessions (connections, kept alive
// or busy) against http.conf's sessionlimit and closes the one beyond it
// unanswered, which a client sees as EOF. Requests over the bound queue.
type rest struct {
	base    string // http://host:port/ari
	user    string
	pass    string
	client  *http.Client
	timeout time.Duration
	slots   *slots // the requests in flight
	// unreachable, when set, hears of every request that could not
	// connect to Asterisk.
	unreachable func(error)
}

// maxBody bounds what is read of one answer; GET /channels with thousands of
// live channels stays well below it.
const maxBody = 64 << 20

// DefaultMaxRequests is the default bound on ARI requests in flight (and
// connections open): half of Asterisk's default sessionlimit (100), which
// leaves room for the events WebSocket's handshake and other HTTP clients
// of the same Asterisk.
const DefaultMaxRequests = 50

// keepAlive is how long an idle connection is kept: shorter than
// Asterisk's session_keep_alive (15 s), so that callbackd closes an idle
// connection before Asterisk does and never sends a request on a
// connection Asterisk is closing.
const keepAlive = 10 * time.Second

func newREST(base, user, pass string, timeout time.Duration, maxRequests int) *rest {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     maxRequests,
		MaxIdleConns:        maxRequests,
		MaxIdleConnsPerHost: maxRequests,
		IdleConnTimeout:     keepAlive,
	}
	return &rest{base: base, user: user, pass: pass, client: &http.Client{Transport: tr}, timeout: timeout,
		slots: newSlots(maxRequests)}
}

// resendDelays are the waits before each resend of a request that is safe
// to repeat, after a connection error.
var resendDelays = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 400 * time.Millisecond}

// call sends one request. body, when not nil, is sent as JSON; out, when not
// nil, receives the JSON answer. idempotent marks POSTs that Asterisk itself
// makes harmless to repeat because they name what they make or act on
// (a bridge or channel created with its id, a channel added to a bridge, a
// dial of a created channel). GET, DELETE and PUT, and idempotent POSTs,
// are sent again after a connection error (EOF, reset, refused); the
// answer to a resent request wraps the error so that resent tells it.
// Other POSTs are sent once: an originate rings someone, and when its
// answer is lost the caller asks Asterisk, through the channel id, whether
// it was carried out.
func (r *rest) call(ctx context.Context, method, path string, q url.Values, body, out any, idempotent bool) error {
	repeat := idempotent || method == http.MethodGet || method == http.MethodDelete || method == http.MethodPut
	err := r.send(ctx, method, path, q, body, out)
	for i := 0; repeat && i < len(resendDelays) && connectionError(ctx, err); i++ {
		t := time.NewTimer(resendDelays[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = r.send(ctx, method, path, q, body, out)
		if err != nil {
			err = &resentError{err: err}
		}
	}
	return err
}

// resentError is the answer to a request sent again after a connection
// error: a 409 may then mean that the first one was carried out.
type resentError struct{ err error }

func (e *resentError) Error() string {
	return e.err.Error() + " (request sent again after a connection error)"
}
func (e *resentError) Unwrap() error { return e.err }

// resent reports whether err answers a request that was sent more than once.
func resent(err error) bool {
	var re *resentError
	return errors.As(err, &re)
}

// connectionError reports a failure of the connection rather than an
// answer: the request may or may not have reached Asterisk. A timeout of
// the request's own deadline is not one (Asterisk is slow, not gone).
func connectionError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return false
	}
	return errors.As(err, &ue) || errors.Is(err, ErrUnreachable) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET)
}

// slots bounds the requests in flight. Waiting requests of calls under way
// go before originates of new calls: when hundreds of callbacks fall due
// at once, a user who has answered is bridged to the destination without
// waiting behind the originates of all the others.
type slots struct {
	mu        sync.Mutex
	free      int
	high, low []chan struct{} // waiters, oldest first
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire takes a place; low marks an originate. The wait ends with ctx
// only: every request in flight ends within its own timeout, so the queue
// moves, and a request of a call already recorded as under way (an
// originate included) is better late than failed.
func (sl *slots) acquire(ctx context.Context, low bool) error {
	sl.mu.Lock()
	if sl.free > 0 && len(sl.high) == 0 && (!low || len(sl.low) == 0) {
		sl.free--
		sl.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if low {
		sl.low = append(sl.low, ch)
	} else {
		sl.high = append(sl.high, ch)
	}
	sl.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if !sl.drop(ch) {
		// Granted as the wait ended: pass the place on.
		sl.releaseLocked()
	}
	return context.Cause(ctx)
}

// drop takes ch out of the queues; false if it was granted already.
func (sl *slots) drop(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&sl.high, &sl.low} {
		if i := slices.Index(*q, ch); i >= 0 {
			*q = slices.Delete(*q, i, i+1)
			return true
		}
	}
	return false
}

func (sl *slots) release() {
	sl.mu.Lock()
	sl.releaseLocked()
	sl.mu.Unlock()
}

// releaseLocked hands the place to the oldest waiter of a call under way,
// else to the oldest originate, else frees it.
func (sl *slots) releaseLocked() {
	switch {
	case len(sl.high) > 0:
		close(sl.high[0])
		sl.high = sl.high[1:]
	case len(sl.low) > 0:
		close(sl.low[0])
		sl.low = sl.low[1:]
	default:
		sl.free++
	}
}

// send sends a request once, within the bound on requests in flight.
//
// It sets no Idempotency-Key: net/http would then resend the request by
// itself on a kept-alive connection that failed, unseen by call, so that a
// 409 to the resend could not be told from a conflict.
func (r *rest) send(ctx context.Context, method, path string, q url.Values, body, out any) error {
	// An originate starts a new call; every other request serves one
	// under way.
	originate := method == http.MethodPost && path == "/channels"
	if err := r.slots.acquire(ctx, originate); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer r.slots.release()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	u := r.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.SetBasicAuth(r.user, r.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if neverSent(err) {
			if r.unreachable != nil {
				r.unreachable(err)
			}
			return fmt.Errorf("%s %s: %w: %w", method, path, ErrUnreachable, err)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &HTTPError{Method: method, Path: path, Status: resp.StatusCode}
		// ast_ari_response_error writes {"message":...}; an allocation
		// failure is the prebuilt {"error":"Allocation failed"}.
		var m struct {
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(data, &m) == nil {
			e.Message = m.Message
			if e.Message == "" {
				e.Message = m.Error
			}
		}
		return e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// neverSent reports a failure to connect: nothing was written, so the
// request had no effect on Asterisk.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// escape quotes one path segment (channel ids may be preset by SQL).
func escape(s string) string { return url.PathEscape(s) }

// channel is the part of Asterisk's Channel model callbackd reads.
type channel struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Dialplan struct {
		AppName string `json:"app_name"`
		AppData string `json:"app_data"`
	} `json:"dialplan"`
}

// configField is one attribute of a dynamic configuration object.
type configField struct {
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
}

func (r *rest) listChannels(ctx context.Context) ([]channel, error) {
	var out []channel
	err := r.call(ctx, http.MethodGet, "/channels", nil, nil, &out, false)
	return out, err
}

func (r *rest) getChannel(ctx context.Context, id string) (channel, error) {
	var out channel
	err := r.call(ctx, http.MethodGet, "/channels/"+escape(id), nil, nil, &out, false)
	return out, err
}

// hangup is DELETE /channels/{id}; a channel already gone is not an error.
func (r *rest) hangup(ctx context.Context, id, reason string) error {
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	err := r.call(ctx, http.MethodDelete, "/channels/"+escape(id), q, nil, nil, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

type bridge struct {
	ID       string   `json:"id"`
	Channels []string `json:"channels"`
}

func (r *rest) listBridges(ctx context.Context) ([]bridge, error) {
	var out []bridge
	err := r.call(ctx, http.MethodGet, "/bridges", nil, nil, &out, false)
	return out, err
}

// destroyBridge is DELETE /bridges/{id}; a bridge already gone is not an error.
func (r *rest) destroyBridge(ctx context.Context, id string) error {
	err := r.call(ctx, http.MethodDelete, "/bridges/"+escape(id), nil, nil, nil, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// originate is POST /channels: it places a channel that enters Stasis once
// answered. It is sent once (see call).
func (r *rest) originate(ctx context.Context, q url.Values, body any) (channel, error) {
	var out channel
	err := r.call(ctx, http.MethodPost, "/channels", q, body, &out, false)
	return out, err
}

// createChannel is POST /channels/create: a channel that enters Stasis at
// once and is dialled later. Its id makes it safe to send again.
func (r *rest) createChannel(ctx context.Context, q url.Values, body any) (channel, error) {
	var out channel
	err := r.call(ctx, http.MethodPost, "/channels/create", q, body, &out, true)
	return out, err
}

// dial is POST /channels/{id}/dial of a created channel; timeout in seconds.
func (r *rest) dial(ctx context.Context, id string, timeout int) error {
	q := url.Values{"timeout": {strconv.Itoa(timeout)}}
	return r.call(ctx, http.MethodPost, "/channels/"+escape(id)+"/dial", q, nil, nil, true)
}

// ring is POST /channels/{id}/ring: 180 Ringing to an unanswered caller.
func (r *rest) ring(ctx context.Context, id string) error {
	return r.call(ctx, http.MethodPost, "/channels/"+escape(id)+"/ring", nil, nil, nil, true)
}

// answer is POST /channels/{id}/answer.
func (r *rest) answer(ctx context.Context, id string) error {
	return r.call(ctx, http.MethodPost, "/channels/"+escape(id)+"/answer", nil, nil, nil, true)
}

// hangupCause is DELETE /channels/{id}?reason_code=cause; a channel
// already gone is not an error.
func (r *rest) hangupCause(ctx context.Context, id string, cause int) error {
	q := url.Values{"reason_code": {strconv.Itoa(cause)}}
	err := r.call(ctx, http.MethodDelete, "/channels/"+escape(id), q, nil, nil, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// setVariable is POST /channels/{id}/variable.
func (r *rest) setVariable(ctx context.Context, id, name, value string) error {
	q := url.Values{"variable": {name}, "value": {value}}
	return r.call(ctx, http.MethodPost, "/channels/"+escape(id)+"/variable", q, nil, nil, true)
}

// play is POST /channels/{id}/play of media under playbackId pb; lang ""
// plays in the channel's language. It is sent once.
func (r *rest) play(ctx context.Context, id, pb string, media []string, lang string) error {
	q := url.Values{"media": {strings.Join(media, ",")}, "playbackId": {pb}}
	if lang != "" {
		q.Set("lang", lang)
	}
	return r.call(ctx, http.MethodPost, "/channels/"+escape(id)+"/play", q, nil, nil, false)
}

// getPlayback is GET /playbacks/{id}: ErrNotFound once it finished.
func (r *rest) getPlayback(ctx context.Context, id string) error {
	return r.call(ctx, http.MethodGet, "/playbacks/"+escape(id), nil, nil, nil, false)
}

// createBridge is POST /bridges with the bridge's id, so that it is safe
// to send again (409 then says it exists).
func (r *rest) createBridge(ctx context.Context, id, typ, name string) error {
	q := url.Values{"type": {typ}, "bridgeId": {id}, "name": {name}}
	return r.call(ctx, http.MethodPost, "/bridges", q, nil, nil, true)
}

// addChannels is POST /bridges/{id}/addChannel: every channel must be in
// Stasis (422 otherwise, 400 for one that does not exist).
func (r *rest) addChannels(ctx context.Context, id string, channels []string) error {
	q := url.Values{"channel": {strings.Join(channels, ",")}}
	return r.call(ctx, http.MethodPost, "/bridges/"+escape(id)+"/addChannel", q, nil, nil, true)
}

func configPath(typ, id string) string {
	return "/asterisk/config/dynamic/res_pjsip/" + typ + "/" + escape(id)
}

func (r *rest) getObject(ctx context.Context, typ, id string) ([]configField, error) {
	var out []configField
	err := r.call(ctx, http.MethodGet, configPath(typ, id), nil, nil, &out, false)
	return out, err
}

func (r *rest) putObject(ctx context.Context, typ, id string, fields []configField) error {
	return r.call(ctx, http.MethodPut, configPath(typ, id), nil, map[string]any{"fields": fields}, nil, false)
}

// deleteObject removes a dynamic object; one already gone is not an error.
func (r *rest) deleteObject(ctx context.Context, typ, id string) error {
	err := r.call(ctx, http.MethodDelete, configPath(typ, id), nil, nil, nil, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// ariBase turns the configured URL (http://host:8088, with or without /ari)
// into the REST root.
func ariBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("ARI URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("ARI URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("ARI URL %q: no host", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	p = strings.TrimSuffix(p, "/ari")
	u.Path = p + "/ari"
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String(), nil
}

// eventsURL is the WebSocket address for the events of app.
func eventsURL(base, app string) string {
	u := base
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	default:
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/events?" + url.Values{"app": {app}, "subscribeAll": {"false"}}.Encode()
}
