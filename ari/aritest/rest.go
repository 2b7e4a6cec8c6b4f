package aritest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxPublicUniqueID is AST_MAX_PUBLIC_UNIQUEID.
const maxPublicUniqueID = 149

// knownFormats are format names ast_format_cache_get finds on a stock build.
var knownFormats = map[string]bool{
	"ulaw": true, "alaw": true, "gsm": true, "g722": true, "g729": true, "g726": true,
	"opus": true, "slin": true, "slin16": true, "ilbc": true, "speex": true, "h264": true,
}

type handler func(w http.ResponseWriter, q *params)

// params merges the query string and the JSON body: Asterisk parses the query
// first and lets fields of a JSON object body override it.
type params struct {
	r     *http.Request
	body  map[string]json.RawMessage
	badJS bool
}

func (p *params) has(name string) bool {
	if _, ok := p.body[name]; ok {
		return true
	}
	return p.r.URL.Query().Has(name)
}

func (p *params) str(name string) string {
	if raw, ok := p.body[name]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var list []string
		if json.Unmarshal(raw, &list) == nil {
			return strings.Join(list, ",")
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
		return ""
	}
	return p.r.URL.Query().Get(name)
}

// integer reads an int the way the generated code does: atoi on the query,
// ast_json_integer_get on the body (non-integers read as 0).
func (p *params) integer(name string, def int) int {
	if raw, ok := p.body[name]; ok {
		var n int
		if json.Unmarshal(raw, &n) != nil {
			return 0
		}
		return n
	}
	if !p.r.URL.Query().Has(name) {
		return def
	}
	return atoi(p.r.URL.Query().Get(name))
}

func (p *params) list(name string) []string {
	var out []string
	for _, v := range p.r.URL.Query()[name] {
		out = append(out, splitList(v)...)
	}
	if raw, ok := p.body[name]; ok {
		var list []string
		if json.Unmarshal(raw, &list) == nil {
			return list
		}
		return splitList(p.str(name))
	}
	return out
}

func atoi(s string) int {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || end == 0 && (s[end] == '-' || s[end] == '+')) {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return n
}

// writeJSON sends v the way res_ari does with its default format: compact
// JSON with nothing after it.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if _, err := w.Write(b); err != nil {
		// The client went away; there is nobody left to tell.
		return
	}
}

// writeError is ast_ari_response_error: the text under "message", whatever
// the status, 500 included.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

// writeAllocFailed is ast_ari_response_alloc_failed: a 500 whose body is
// res_ari's prebuilt {"error": "Allocation failed"}, not a "message".
func writeAllocFailed(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "Allocation failed"})
}

// httpWorker is what Asterisk keeps per HTTP connection: each connection is
// served by a thread of its own, for as long as it is kept alive, and
// ast_channel_errno is thread-local.
type httpWorker struct {
	// idExists is the AST_CHANNEL_ERROR_ID_EXISTS a channel allocation
	// left in ast_channel_errno. Only an id conflict ever sets it and
	// nothing clears it, so once an originate or create on this connection
	// met a channel id in use, every later failure to get a channel on it
	// is reported as that conflict.
	idExists bool
}

type httpWorkerKey struct{}

// withHTTPWorker gives each accepted connection its worker state.
func withHTTPWorker(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, httpWorkerKey{}, &httpWorker{})
}

func workerOf(r *http.Request) *httpWorker {
	if wk, ok := r.Context().Value(httpWorkerKey{}).(*httpWorker); ok {
		return wk
	}
	return &httpWorker{}
}

// channelConflict is the 409 of an id already in use, which leaves the
// error behind on the connection.
func channelConflict(w http.ResponseWriter, wk *httpWorker) {
	wk.idExists = true
	writeError(w, http.StatusConflict, "Channel with given unique ID already exists")
}

// requestFailed is ast_request (or ast_dial_prerun) giving no channel for
// a reason other than an id conflict: the handlers look at
// ast_channel_errno to tell the two apart.
func requestFailed(w http.ResponseWriter, wk *httpWorker) {
	if wk.idExists {
		writeError(w, http.StatusConflict, "Channel with given unique ID already exists")
		return
	}
	writeAllocFailed(w)
}

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Errorf("aritest: read random: %w", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handler) { mux.Handle(pattern, s.wrap(fn)) }

	h("GET /ari/asterisk/info", s.getInfo)
	h("GET /ari/asterisk/ping", s.ping)
	h("GET /ari/asterisk/config/dynamic/{class}/{type}/{id}", s.getObject)
	h("PUT /ari/asterisk/config/dynamic/{class}/{type}/{id}", s.putObject)
	h("DELETE /ari/asterisk/config/dynamic/{class}/{type}/{id}", s.deleteObject)

	h("GET /ari/channels", s.listChannels)
	h("POST /ari/channels", s.originateHandler)
	h("POST /ari/channels/create", s.createChannel)
	h("GET /ari/channels/{id}", s.getChannel)
	h("POST /ari/channels/{id}", s.originateHandler)
	h("DELETE /ari/channels/{id}", s.hangupChannel)
	h("POST /ari/channels/{id}/answer", s.answer)
	h("POST /ari/channels/{id}/ring", s.indicate("ring"))
	h("DELETE /ari/channels/{id}/ring", s.indicate("ringStop"))
	h("POST /ari/channels/{id}/progress", s.indicate("progress"))
	h("POST /ari/channels/{id}/dtmf", s.sendDTMF)
	h("POST /ari/channels/{id}/continue", s.continueInDialplan)
	h("POST /ari/channels/{id}/dial", s.dial)
	h("POST /ari/channels/{id}/play", s.play)
	h("POST /ari/channels/{id}/play/{playbackId}", s.play)
	h("GET /ari/channels/{id}/variable", s.getVar)
	h("POST /ari/channels/{id}/variable", s.setVar)

	h("GET /ari/playbacks/{id}", s.getPlayback)
	h("DELETE /ari/playbacks/{id}", s.stopPlayback)

	h("GET /ari/bridges", s.listBridges)
	h("POST /ari/bridges", s.createBridge)
	h("POST /ari/bridges/{id}", s.createBridge)
	h("GET /ari/bridges/{id}", s.getBridge)
	h("DELETE /ari/bridges/{id}", s.destroyBridge)
	h("POST /ari/bridges/{id}/addChannel", s.addChannel)
	h("POST /ari/bridges/{id}/removeChannel", s.removeChannel)

	mux.Handle("GET /ari/events", s.authorize(http.HandlerFunc(s.handleEvents)))
	mux.Handle("/", s.wrap(func(w http.ResponseWriter, _ *params) {
		writeError(w, http.StatusNotFound, "Resource not found")
	}))
	return s.record(mux)
}

// record keeps every request, WebSocket upgrades included.
func (s *Sim) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				writeError(w, http.StatusBadRequest, "Failed to read request body")
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		req := Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Body: body, Received: time.Now(),
		}
		s.recordRequest(req)
		if f := s.takeFault(req); f != 0 {
			s.applyFault(f, w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Sim) authorized(r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return u == s.cfg.user && p == s.cfg.pass
	}
	if key := r.URL.Query().Get("api_key"); key != "" {
		u, p, _ := strings.Cut(key, ":")
		return u == s.cfg.user && p == s.cfg.pass
	}
	return false
}

func (s *Sim) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
			writeError(w, http.StatusUnauthorized, "Authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Sim) wrap(fn handler) http.Handler {
	return s.authorize(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &params{r: r}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Failed to read request body")
			return
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, &p.body); err != nil {
				// A body that is JSON but not an object is ignored by the
				// parse_body helpers; one that is not JSON is refused.
				var v json.RawMessage
				if json.Unmarshal(raw, &v) != nil {
					writeError(w, http.StatusBadRequest, "Error parsing request body")
					return
				}
			}
		}
		fn(w, p)
	}))
}

func (s *Sim) getInfo(w http.ResponseWriter, _ *params) {
	s.mu.Lock()
	started, reloaded := s.started, s.reloaded
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"build": map[string]string{
			"os": "Linux", "kernel": "6.1.0", "machine": "x86_64",
			"options": "BUILD_NATIVE, OPTIONAL_API", "date": "2026-01-01 00:00:00 UTC", "user": "root",
		},
		"system": map[string]string{"version": "22.6.0", "entity_id": s.cfg.asteriskID},
		"config": map[string]any{
			"name": "", "default_language": "en",
			"setid": map[string]string{"user": "asterisk", "group": "asterisk"},
		},
		"status": map[string]string{
			"startup_time":     asteriskTime(started),
			"last_reload_time": asteriskTime(reloaded),
		},
	})
}

func (s *Sim) ping(w http.ResponseWriter, _ *params) {
	writeJSON(w, http.StatusOK, map[string]string{
		"asterisk_id": s.cfg.asteriskID, "ping": "pong", "timestamp": asteriskTime(time.Now()),
	})
}

func (s *Sim) listChannels(w http.ResponseWriter, _ *params) {
	s.mu.Lock()
	out := make([]channelJSON, 0, len(s.channels))
	for _, ch := range sortedChannels(s.channels) {
		out = append(out, ch.snapshot())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getChannel(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Channel not found")
		return
	}
	writeJSON(w, http.StatusOK, ch.snapshot())
}

// parseVariables is json_to_ast_variables.
func parseVariables(p *params) (map[string]string, map[string]bool, string) {
	raw, ok := p.body["variables"]
	if !ok {
		return nil, nil, ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil, nil, ""
	}
	vars := make(map[string]string, len(obj))
	reported := make(map[string]bool)
	for k, v := range obj {
		if k == "" {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) == nil {
			vars[k] = str
			continue
		}
		var o struct {
			Value   *string         `json:"value"`
			Reports json.RawMessage `json:"report_events"`
		}
		if json.Unmarshal(v, &o) != nil || bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) {
			return nil, nil, "Each value in 'variables' must be a string or an object with 'value' and optional 'report_events'"
		}
		if o.Value == nil {
			return nil, nil, "Each object value in 'variables' must include string field 'value'"
		}
		vars[k] = *o.Value
		if len(o.Reports) > 0 {
			var b bool
			if json.Unmarshal(o.Reports, &b) != nil {
				return nil, nil, "Field 'report_events' in 'variables' entries must be boolean"
			}
			if b {
				reported[k] = true
			}
		}
	}
	return vars, reported, ""
}

func parseCallerID(v string) (name, num string) {
	v = strings.TrimSpace(v)
	if i := strings.Index(v, "<"); i >= 0 {
		if j := strings.Index(v[i:], ">"); j > 0 {
			name = strings.Trim(strings.TrimSpace(v[:i]), `"`)
			return name, strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if strings.IndexFunc(v, func(r rune) bool { return !strings.ContainsRune("0123456789+*#-() .", r) }) >= 0 {
		return v, ""
	}
	return "", strings.NewReplacer("-", "", "(", "", ")", "", " ", "", ".", "").Replace(v)
}

// originateHandler is POST /channels and POST /channels/{channelId}, checking
// in the order ari_channels_handle_originate_with_id does.
func (s *Sim) originateHandler(w http.ResponseWriter, p *params) {
	vars, reported, msg := parseVariables(p)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	id := p.r.PathValue("id")
	if id == "" {
		id = p.str("channelId")
	}
	otherID := p.str("otherChannelId")
	if len(id) > maxPublicUniqueID || len(otherID) > maxPublicUniqueID {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Uniqueid length exceeds maximum of %d", maxPublicUniqueID))
		return
	}
	endpoint := p.str("endpoint")
	if endpoint == "" {
		writeError(w, http.StatusBadRequest, "Endpoint must be specified")
		return
	}
	originator, formats := p.str("originator"), p.str("formats")
	if originator != "" && formats != "" {
		writeError(w, http.StatusBadRequest, "Originator and formats can't both be specified")
		return
	}
	target, ok := parseDialTarget(endpoint)
	if !ok {
		writeError(w, http.StatusBadRequest, "Invalid endpoint specified")
		return
	}
	app, extension := p.str("app"), p.str("extension")
	if app == "" && extension == "" {
		writeError(w, http.StatusBadRequest, "Application or extension must be specified")
		return
	}
	timeout := p.integer("timeout", 30)
	var dialTimeout time.Duration
	switch {
	case timeout > 0:
		dialTimeout = time.Duration(timeout) * time.Second
	case timeout == -1:
		dialTimeout = 0
	default:
		dialTimeout = 30 * time.Second
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if originator != "" {
		if _, ok := s.channels[originator]; !ok {
			writeError(w, http.StatusBadRequest, "Provided originator channel was not found")
			return
		}
	}
	if unknownFormat(w, formats) {
		return
	}
	ch, id2 := s.allocate(w, p, target, id, otherID)
	if ch == nil {
		return
	}
	ch.originated = true
	// begin_dial_prerun: the outbound channel runs "AppDial2" until it
	// answers and enters Stasis (or the dialplan).
	ch.appl, ch.data = "AppDial2", "(Outgoing Line)"
	var half2 *channel
	if target.tech == "Local" {
		half2 = s.newLocalHalf2(ch, id2)
	}
	// pbx_outgoing_attempt sets the variables first, then the callerId
	// as both caller and connected line.
	setVariables(ch, vars)
	if cid := p.str("callerId"); cid != "" {
		ch.callerName, ch.callerNum = parseCallerID(cid)
		ch.connName, ch.connNum = ch.callerName, ch.callerNum
	}
	if len(reported) > 0 {
		ch.reported = reported
	}
	if app != "" {
		ch.app = app
		if a := p.str("appArgs"); a != "" {
			ch.appArgs = strings.Split(a, ",")
		}
		if half2 != nil {
			// The originate subscribes the application to the Local
			// channel's peer too.
			half2.app = app
		}
	} else {
		ch.context = p.str("context")
		if ch.context == "" {
			ch.context = "default"
		}
		ch.exten = extension
		ch.priority = max(p.integer("priority", 1), 1)
	}
	writeJSON(w, http.StatusOK, ch.snapshot())
	s.originate(ch, dialTimeout)
}

func (s *Sim) idInUse(id string) bool {
	if id == "" {
		return false
	}
	_, ok := s.channels[id]
	return ok
}

// unknownFormat writes 400 for the first format in formats Asterisk does
// not know, and reports whether it did.
func unknownFormat(w http.ResponseWriter, formats string) bool {
	for _, f := range splitList(formats) {
		if !knownFormats[f] {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Provided format (%s) was not found", f))
			return true
		}
	}
	return false
}

// allocate is ast_request for an originate or a create, under s.mu: it
// returns the new channel and the id its Local ";2" half gets, or writes
// the refusal and returns nil. ast_request fails in ast_dial_prerun before
// any channel is allocated, and res/ari reports a failure other than an id
// conflict as an allocation failure; a live id (of either half) is 409.
func (s *Sim) allocate(w http.ResponseWriter, p *params, target dialTarget, id, otherID string) (*channel, string) {
	wk := workerOf(p.r)
	if !s.endpointExists(target) {
		requestFailed(w, wk)
		return nil, ""
	}
	id2 := otherID
	if target.tech == "Local" {
		id2 = localHalf2ID(id, otherID)
	}
	if s.idInUse(id) || s.idInUse(id2) {
		channelConflict(w, wk)
		return nil, ""
	}
	return s.newChannel(target, id), id2
}

// createChannel is POST /channels/create: the channel enters Stasis at once
// (ari_channel_thread) and waits for /dial.
func (s *Sim) createChannel(w http.ResponseWriter, p *params) {
	vars, reported, msg := parseVariables(p)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	id, otherID := p.str("channelId"), p.str("otherChannelId")
	originator, formats := p.str("originator"), p.str("formats")
	if originator != "" && formats != "" {
		writeError(w, http.StatusBadRequest, "Originator and formats can't both be specified")
		return
	}
	endpoint := p.str("endpoint")
	if endpoint == "" {
		writeError(w, http.StatusBadRequest, "Endpoint must be specified")
		return
	}
	target, ok := parseDialTarget(endpoint)
	if !ok {
		writeError(w, http.StatusBadRequest, "Invalid endpoint specified")
		return
	}
	app := p.str("app")

	s.mu.Lock()
	defer s.mu.Unlock()
	if originator == "" && unknownFormat(w, formats) {
		return
	}
	ch, id2 := s.allocate(w, p, target, id, otherID)
	if ch == nil {
		return
	}
	ch.ariMade = true
	if target.tech == "Local" {
		// Only the half asked for is subscribed to the application.
		s.newLocalHalf2(ch, id2)
	}
	ch.app = app
	if a := p.str("appArgs"); a != "" {
		ch.appArgs = strings.Split(a, ",")
	}
	setVariables(ch, vars)
	if len(reported) > 0 {
		ch.reported = reported
	}
	writeJSON(w, http.StatusOK, ch.snapshot())
	s.after(ch, s.cfg.stasisDelay, func() {
		// ari_channel_thread: pbx_exec(Stasis), then the hangup.
		if !s.runStasis(ch) {
			s.destroy(ch, CauseNormalClearing, 0)
		}
	})
}

// control is find_control: 404 for no channel, 409 when it is not in Stasis.
func (s *Sim) control(w http.ResponseWriter, id string) *channel {
	ch, ok := s.channels[id]
	if !ok {
		writeError(w, http.StatusNotFound, "Channel not found")
		return nil
	}
	if !ch.inStasis {
		writeError(w, http.StatusConflict, "Channel not in Stasis application")
		return nil
	}
	return ch
}

// stateInvalid is channel_state_invalid: outbound channels that are not up
// refuse media operations with 412.
func stateInvalid(w http.ResponseWriter, ch *channel) bool {
	switch ch.state {
	case "Down", "Rsrvd", "Ringing":
		writeError(w, http.StatusPreconditionFailed, "Channel in invalid state")
		return true
	}
	return false
}

func (s *Sim) hangupChannel(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Channel not found")
		return
	}
	code, reason := p.str("reason_code"), p.str("reason")
	if code != "" && reason != "" {
		writeError(w, http.StatusBadRequest, "The reason and reason_code can't both be specified")
		return
	}
	cause := CauseNormalClearing
	switch {
	case code != "":
		n, err := strconv.Atoi(strings.TrimSpace(code))
		if err != nil {
			writeError(w, http.StatusBadRequest, "Invalid reason for hangup reason code provided")
			return
		}
		cause = n
	case reason != "":
		c, ok := hangupReasons[reason]
		if !ok {
			writeError(w, http.StatusBadRequest, "Invalid reason for hangup reason provided")
			return
		}
		cause = c
	}
	noContent(w)
	s.softHangup(ch, cause)
}

func (s *Sim) answer(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil || stateInvalid(w, ch) {
		return
	}
	if ch.inbound {
		s.answerInbound(ch)
	}
	noContent(w)
}

func (s *Sim) indicate(op string) handler {
	return func(w http.ResponseWriter, p *params) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ch := s.control(w, p.r.PathValue("id"))
		if ch == nil || stateInvalid(w, ch) {
			return
		}
		s.log.Debug("aritest: indication", "channel", ch.id, "op", op)
		noContent(w)
	}
}

func (s *Sim) sendDTMF(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil || stateInvalid(w, ch) {
		return
	}
	if p.str("dtmf") == "" {
		writeError(w, http.StatusBadRequest, "DTMF is required")
		return
	}
	noContent(w)
}

// continueInDialplan leaves Stasis. The simulator has no dialplan, so the
// channel then ends as a PBX that runs out of extensions does.
func (s *Sim) continueInDialplan(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil || stateInvalid(w, ch) {
		return
	}
	noContent(w)
	s.leaveStasis(ch)
	if c := p.str("context"); c != "" {
		ch.context = c
	}
	if e := p.str("extension"); e != "" {
		ch.exten = e
	}
	s.after(ch, 0, func() { s.destroy(ch, CauseNormalClearing, 0) })
}

func (s *Sim) dial(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil {
		return
	}
	if ch.state != "Down" {
		writeError(w, http.StatusConflict, "Channel is not in the 'Down' state")
		return
	}
	if !ch.ariMade || ch.dialed {
		writeError(w, http.StatusConflict, "Dialing a channel not created by ARI")
		return
	}
	if caller, ok := s.channels[p.str("caller")]; ok {
		// ast_connected_line_copy_from_caller
		ch.connName, ch.connNum = caller.callerName, caller.callerNum
		ch.language = caller.language
	}
	timeout := time.Duration(max(p.integer("timeout", 0), 0)) * time.Second
	noContent(w)
	s.ariDial(ch, timeout)
}

func (s *Sim) getVar(w http.ResponseWriter, p *params) {
	name := p.str("variable")
	if name == "" {
		writeError(w, http.StatusBadRequest, "Variable name is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil {
		return
	}
	v, ok := s.readVar(ch, name)
	if !ok {
		writeError(w, http.StatusNotFound, "Provided variable was not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"value": v})
}

// readVar covers plain variables and the dialplan functions callbackd reads.
func (s *Sim) readVar(ch *channel, name string) (string, bool) {
	if v, ok := readFunction(ch, name); ok {
		return v, true
	}
	switch name {
	case "CHANNEL(name)":
		return ch.name, true
	case "CHANNEL(language)":
		return ch.language, true
	case "UNIQUEID":
		return ch.id, true
	}
	v, ok := ch.vars[name]
	return v, ok
}

func (s *Sim) setVar(w http.ResponseWriter, p *params) {
	name := p.str("variable")
	if name == "" {
		writeError(w, http.StatusBadRequest, "Variable name is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil {
		return
	}
	value := p.str("value")
	if writeFunction(ch, name, value) {
		// A function is written, not set: no ChannelVarset.
		noContent(w)
		return
	}
	ch.vars[name] = value
	if strings.EqualFold(p.str("report_events"), "true") {
		if ch.reported == nil {
			ch.reported = make(map[string]bool)
		}
		ch.reported[name] = true
	}
	noContent(w)
	s.emitChannel("ChannelVarset", ch, map[string]any{"variable": name, "value": value})
}
