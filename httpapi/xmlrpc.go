package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// XML-RPC (xmlrpc.com/spec.md) as switches speak it: one methodCall per
// POST, values of the spec's types plus the common extensions i8 and nil.
// The codec is written on encoding/xml's token stream rather than on
// xml.Unmarshal so that the shape is checked exactly (one typed child per
// value, no stray text) and nesting is bounded.

// The fault codes of protocol errors, from the XML-RPC fault code
// interoperability convention. Errors of the operations themselves carry
// the HTTP status the JSON API would answer with (400, 401, 403, 404, 409,
// 429, 500, 503) and "<code>: <message>" as faultString.
const (
	FaultParse          = -32700 // not well-formed XML
	FaultInvalidRequest = -32600 // well-formed, but not a methodCall
	FaultUnknownMethod  = -32601
	FaultInvalidParams  = -32602 // not exactly one struct parameter
)

// xmlrpcCall is a decoded methodCall. Values are string, int64, bool,
// float64, time.Time, []byte, map[string]any (struct), []any (array) or
// nil.
type xmlrpcCall struct {
	Method string
	Params []any
}

// xmlrpcError is a fault found while decoding.
type xmlrpcError struct {
	code int
	msg  string
}

func (e *xmlrpcError) Error() string { return e.msg }

const (
	maxXMLDepth   = 16   // nested struct/array levels
	maxXMLMembers = 1024 // members of one struct, items of one array, params
)

type xmlReader struct {
	d     *xml.Decoder
	depth int
}

func parseFault(format string, args ...any) error {
	return &xmlrpcError{code: FaultParse, msg: fmt.Sprintf(format, args...)}
}

func shapeFault(format string, args ...any) error {
	return &xmlrpcError{code: FaultInvalidRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeXMLRPC decodes one methodCall. No DTD is accepted, so no entity
// can expand or reach outside the body.
func decodeXMLRPC(body []byte) (xmlrpcCall, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
			return charmap.ISO8859_1.NewDecoder().Reader(in), nil
		case "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("unsupported encoding %q", label)
	}
	x := &xmlReader{d: d}
	start, err := x.start()
	if err != nil {
		return xmlrpcCall{}, err
	}
	if start.Name.Local != "methodCall" {
		return xmlrpcCall{}, shapeFault("want <methodCall>, got <%s>", start.Name.Local)
	}
	var call xmlrpcCall
	seenName, seenParams := false, false
	for {
		el, end, err := x.child()
		if err != nil {
			return xmlrpcCall{}, err
		}
		if end {
			break
		}
		switch {
		case el.Name.Local == "methodName" && !seenName:
			seenName = true
			if call.Method, err = x.text(); err != nil {
				return xmlrpcCall{}, err
			}
			call.Method = strings.TrimSpace(call.Method)
		case el.Name.Local == "params" && !seenParams:
			seenParams = true
			if call.Params, err = x.params(); err != nil {
				return xmlrpcCall{}, err
			}
		default:
			return xmlrpcCall{}, shapeFault("unexpected <%s> in <methodCall>", el.Name.Local)
		}
	}
	if !seenName || call.Method == "" {
		return xmlrpcCall{}, shapeFault("no <methodName>")
	}
	// Only whitespace, comments and processing instructions may follow.
	for {
		tok, err := x.d.Token()
		if errors.Is(err, io.EOF) {
			return call, nil
		}
		if err != nil {
			return xmlrpcCall{}, parseFault("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xmlrpcCall{}, parseFault("text after </methodCall>")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return xmlrpcCall{}, parseFault("content after </methodCall>")
		}
	}
}

// token returns the next token, refusing DTDs.
func (x *xmlReader) token() (xml.Token, error) {
	tok, err := x.d.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, parseFault("unexpected end of document")
		}
		return nil, parseFault("malformed XML: %v", err)
	}
	if _, ok := tok.(xml.Directive); ok {
		return nil, parseFault("DTDs and other directives are not accepted")
	}
	return tok, nil
}

// start returns the document's root element.
func (x *xmlReader) start() (xml.StartElement, error) {
	for {
		tok, err := x.token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, parseFault("text before the root element")
			}
		case xml.EndElement:
			return xml.StartElement{}, parseFault("unexpected end element")
		}
	}
}

// child returns the next child element of the current element, or end
// true at its end tag. Text between elements must be whitespace.
func (x *xmlReader) child() (xml.StartElement, bool, error) {
	for {
		tok, err := x.token()
		if err != nil {
			return xml.StartElement{}, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, false, nil
		case xml.EndElement:
			return xml.StartElement{}, true, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, false, shapeFault("unexpected text %q", truncate(string(bytes.TrimSpace(t)), 32))
			}
		}
	}
}

// text reads the text content of the current element up to its end tag.
func (x *xmlReader) text() (string, error) {
	var b strings.Builder
	for {
		tok, err := x.token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", shapeFault("unexpected <%s> in a text element", t.Name.Local)
		}
	}
}

// end expects the end tag of the current element.
func (x *xmlReader) end() error {
	el, end, err := x.child()
	if err != nil {
		return err
	}
	if !end {
		return shapeFault("unexpected <%s>", el.Name.Local)
	}
	return nil
}

func (x *xmlReader) params() ([]any, error) {
	var out []any
	for {
		el, end, err := x.child()
		if err != nil {
			return nil, err
		}
		if end {
			return out, nil
		}
		if el.Name.Local != "param" {
			return nil, shapeFault("want <param>, got <%s>", el.Name.Local)
		}
		if len(out) == maxXMLMembers {
			return nil, shapeFault("more than %d params", maxXMLMembers)
		}
		v, err := x.wrappedValue()
		if err != nil {
			return nil, err
		}
		if err := x.end(); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// wrappedValue reads the <value> child of the current element.
func (x *xmlReader) wrappedValue() (any, error) {
	el, end, err := x.child()
	if err != nil {
		return nil, err
	}
	if end || el.Name.Local != "value" {
		return nil, shapeFault("want <value>")
	}
	return x.value()
}

// value reads the content of a <value> whose start tag was just read.
func (x *xmlReader) value() (any, error) {
	var text strings.Builder
	var (
		typed bool
		v     any
	)
	for {
		tok, err := x.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.StartElement:
			if typed {
				return nil, shapeFault("<value> with more than one typed child")
			}
			typed = true
			if v, err = x.typed(t); err != nil {
				return nil, err
			}
		case xml.EndElement:
			if !typed {
				// No type element: the spec's default is a string.
				return text.String(), nil
			}
			if strings.TrimSpace(text.String()) != "" {
				return nil, shapeFault("text beside a typed value")
			}
			return v, nil
		}
	}
}

var dateTimeLayouts = []string{
	"20060102T15:04:05", "20060102T15:04:05Z07:00", "20060102T15:04:05Z0700",
	"2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00", "20060102T150405", "20060102T150405Z07:00",
}

// typed reads one typed element (<int>, <struct>, ...).
func (x *xmlReader) typed(t xml.StartElement) (any, error) {
	name := t.Name.Local
	switch name {
	case "struct":
		return x.structValue()
	case "array":
		return x.arrayValue()
	case "nil":
		return nil, x.end()
	}
	s, err := x.text()
	if err != nil {
		return nil, err
	}
	switch name {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || (name == "i4" && (n < math.MinInt32 || n > math.MaxInt32)) {
			return nil, shapeFault("<%s> %q is not an integer of its size", name, truncate(s, 32))
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, shapeFault("<boolean> %q: want 0 or 1", truncate(s, 32))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, shapeFault("<double> %q is not a finite number", truncate(s, 32))
		}
		return f, nil
	case "dateTime.iso8601":
		s = strings.TrimSpace(s)
		for _, l := range dateTimeLayouts {
			// The spec's form has no zone; callbackd reads it as UTC.
			if tm, err := time.Parse(l, s); err == nil {
				return tm.UTC(), nil
			}
		}
		return nil, shapeFault("<dateTime.iso8601> %q: want 20060102T15:04:05", truncate(s, 32))
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			return nil, shapeFault("<base64>: %v", err)
		}
		return b, nil
	}
	return nil, shapeFault("unknown value type <%s>", name)
}

func (x *xmlReader) nest() error {
	x.depth++
	if x.depth > maxXMLDepth {
		return shapeFault("values nested deeper than %d", maxXMLDepth)
	}
	return nil
}

func (x *xmlReader) structValue() (any, error) {
	if err := x.nest(); err != nil {
		return nil, err
	}
	defer func() { x.depth-- }()
	out := map[string]any{}
	for {
		el, end, err := x.child()
		if err != nil {
			return nil, err
		}
		if end {
			return out, nil
		}
		if el.Name.Local != "member" {
			return nil, shapeFault("want <member>, got <%s>", el.Name.Local)
		}
		if len(out) == maxXMLMembers {
			return nil, shapeFault("more than %d members", maxXMLMembers)
		}
		name, v, err := x.member()
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, shapeFault("member %q given twice", truncate(name, 64))
		}
		out[name] = v
	}
}

// member reads <name> and <value>, in either order as some clients write.
func (x *xmlReader) member() (string, any, error) {
	var (
		name          string
		v             any
		gotName, gotV bool
	)
	for {
		el, end, err := x.child()
		if err != nil {
			return "", nil, err
		}
		if end {
			break
		}
		switch {
		case el.Name.Local == "name" && !gotName:
			gotName = true
			if name, err = x.text(); err != nil {
				return "", nil, err
			}
		case el.Name.Local == "value" && !gotV:
			gotV = true
			if v, err = x.value(); err != nil {
				return "", nil, err
			}
		default:
			return "", nil, shapeFault("unexpected <%s> in <member>", el.Name.Local)
		}
	}
	if !gotName || !gotV {
		return "", nil, shapeFault("<member> needs <name> and <value>")
	}
	return strings.TrimSpace(name), v, nil
}

func (x *xmlReader) arrayValue() (any, error) {
	if err := x.nest(); err != nil {
		return nil, err
	}
	defer func() { x.depth-- }()
	el, end, err := x.child()
	if err != nil {
		return nil, err
	}
	if end || el.Name.Local != "data" {
		return nil, shapeFault("want <data> in <array>")
	}
	out := []any{}
	for {
		el, end, err := x.child()
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		if el.Name.Local != "value" {
			return nil, shapeFault("want <value> in <data>, got <%s>", el.Name.Local)
		}
		if len(out) == maxXMLMembers {
			return nil, shapeFault("more than %d array items", maxXMLMembers)
		}
		v, err := x.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, x.end()
}

// Encoding.

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// encodeXMLRPCResponse writes a methodResponse holding v.
func encodeXMLRPCResponse(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodResponse><params><param><value>")
	if err := encodeValue(&b, reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	b.WriteString("</value></param></params></methodResponse>\n")
	return b.Bytes(), nil
}

// encodeXMLRPCFault writes a methodResponse holding a fault.
func encodeXMLRPCFault(code int, msg string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodResponse><fault><value><struct>")
	b.WriteString("<member><name>faultCode</name><value><int>" + strconv.Itoa(code) + "</int></value></member>")
	b.WriteString("<member><name>faultString</name><value><string>")
	escapeXML(&b, msg)
	b.WriteString("</string></value></member></struct></value></fault></methodResponse>\n")
	return b.Bytes()
}

func escapeXML(b *bytes.Buffer, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	// EscapeText also replaces characters XML 1.0 cannot carry (NUL and
	// other controls a raw SQL insert may have stored) with U+FFFD.
	_ = xml.EscapeText(b, []byte(s))
}

var timeType = reflect.TypeFor[time.Time]()

// encodeValue writes v as the content of a <value>. Structs are encoded by
// their json tags, so the XML-RPC members are the JSON API's fields by
// construction; omitempty is honoured, and XML-RPC has no null, so nil
// pointers are left out.
func encodeValue(b *bytes.Buffer, v reflect.Value, depth int) error {
	if depth > maxXMLDepth {
		return errors.New("encode XML-RPC: value nested too deep")
	}
	if !v.IsValid() {
		b.WriteString("<nil/>")
		return nil
	}
	if v.Type() == timeType {
		b.WriteString("<dateTime.iso8601>" + v.Interface().(time.Time).UTC().Format("20060102T15:04:05") + "</dateTime.iso8601>")
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("<nil/>")
			return nil
		}
		return encodeValue(b, v.Elem(), depth)
	case reflect.String:
		b.WriteString("<string>")
		escapeXML(b, v.String())
		b.WriteString("</string>")
	case reflect.Bool:
		if v.Bool() {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		tag := "int"
		if n < math.MinInt32 || n > math.MaxInt32 {
			tag = "i8"
		}
		b.WriteString("<" + tag + ">" + strconv.FormatInt(n, 10) + "</" + tag + ">")
	case reflect.Float32, reflect.Float64:
		b.WriteString("<double>" + strconv.FormatFloat(v.Float(), 'f', -1, 64) + "</double>")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b.WriteString("<base64>" + base64.StdEncoding.EncodeToString(v.Bytes()) + "</base64>")
			return nil
		}
		b.WriteString("<array><data>")
		for i := range v.Len() {
			b.WriteString("<value>")
			if err := encodeValue(b, v.Index(i), depth+1); err != nil {
				return err
			}
			b.WriteString("</value>")
		}
		b.WriteString("</data></array>")
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("encode XML-RPC: map key %s", v.Type().Key())
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(p, q reflect.Value) int { return strings.Compare(p.String(), q.String()) })
		b.WriteString("<struct>")
		for _, k := range keys {
			if err := encodeMember(b, k.String(), v.MapIndex(k), depth); err != nil {
				return err
			}
		}
		b.WriteString("</struct>")
	case reflect.Struct:
		b.WriteString("<struct>")
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if (strings.Contains(opts, "omitempty") && fv.IsZero()) || (fv.Kind() == reflect.Pointer && fv.IsNil()) {
				continue
			}
			if err := encodeMember(b, name, fv, depth); err != nil {
				return err
			}
		}
		b.WriteString("</struct>")
	default:
		return fmt.Errorf("encode XML-RPC: unsupported type %s", v.Type())
	}
	return nil
}

func encodeMember(b *bytes.Buffer, name string, v reflect.Value, depth int) error {
	b.WriteString("<member><name>")
	escapeXML(b, name)
	b.WriteString("</name><value>")
	if err := encodeValue(b, v, depth+1); err != nil {
		return err
	}
	b.WriteString("</value></member>")
	return nil
}

// The endpoint.

// handleXMLRPC serves /RPC2: callback.create, callback.get, callback.list
// and callback.cancel, each with one struct parameter whose members are the
// JSON API's fields. Faults are answered with HTTP 200 as the spec wants,
// except authentication (401, so that clients can answer the challenge),
// rate limiting (429) and wrong content types (415).
func (a *api) handleXMLRPC(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if !isMediaType(ct, "text/xml") && !isMediaType(ct, "application/xml") {
		a.writeFault(w, r, newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send text/xml"))
		return
	}
	p, err := a.authenticate(r)
	if err != nil {
		a.writeFault(w, r, err)
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.writeFault(w, r, err)
		return
	}
	call, err := decodeXMLRPC(body)
	if err != nil {
		a.writeFault(w, r, err)
		return
	}
	result, err := a.callXMLRPC(r, p, call)
	if err != nil {
		a.writeFault(w, r, err)
		return
	}
	out, err := encodeXMLRPCResponse(result)
	if err != nil {
		a.writeFault(w, r, err)
		return
	}
	writeXML(w, http.StatusOK, out)
}

func writeXML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// callXMLRPC runs one method. Its struct parameter is re-encoded as JSON
// and decoded with the JSON API's strict decoder into the same input type.
func (a *api) callXMLRPC(r *http.Request, p principal, call xmlrpcCall) (any, error) {
	ctx := r.Context()
	arg := func(v any) error {
		switch {
		case len(call.Params) == 0 && call.Method == "callback.list":
			return nil
		case len(call.Params) != 1:
			return &xmlrpcError{code: FaultInvalidParams, msg: "want exactly one struct parameter"}
		}
		m, ok := call.Params[0].(map[string]any)
		if !ok {
			return &xmlrpcError{code: FaultInvalidParams, msg: "want exactly one struct parameter"}
		}
		b, err := json.Marshal(bytesToStrings(m))
		if err != nil {
			return invalid("", "a member cannot be represented")
		}
		return decodeStrict(b, v)
	}
	switch call.Method {
	case "callback.create":
		var in CreateInput
		if err := arg(&in); err != nil {
			return nil, err
		}
		req, _, err := a.create(ctx, p, in, r.Header.Get("Idempotency-Key"))
		if err != nil {
			return nil, err
		}
		return viewOf(req, nil), nil
	case "callback.get":
		var in idInput
		if err := arg(&in); err != nil {
			return nil, err
		}
		if in.ID <= 0 {
			return nil, invalid("id", "not a request id")
		}
		return a.get(ctx, p, int64(in.ID))
	case "callback.list":
		var in listInput
		if err := arg(&in); err != nil {
			return nil, err
		}
		return a.list(ctx, p, in)
	case "callback.cancel":
		var in idInput
		if err := arg(&in); err != nil {
			return nil, err
		}
		if in.ID <= 0 {
			return nil, invalid("id", "not a request id")
		}
		req, err := a.cancel(ctx, p, int64(in.ID))
		if err != nil {
			return nil, err
		}
		return viewOf(req, nil), nil
	}
	return nil, &xmlrpcError{code: FaultUnknownMethod, msg: fmt.Sprintf("unknown method %q: want callback.create, callback.get, callback.list or callback.cancel", truncate(call.Method, 64))}
}

// writeFault answers with the fault for err: protocol errors with their
// own codes, everything else through classify.
func (a *api) writeFault(w http.ResponseWriter, r *http.Request, err error) {
	var xe *xmlrpcError
	if errors.As(err, &xe) {
		a.note(r, &Error{Status: http.StatusOK, Code: CodeMalformedRequest, Message: xe.msg})
		writeXML(w, http.StatusOK, encodeXMLRPCFault(xe.code, xe.msg))
		return
	}
	e := classify(err)
	a.note(r, e)
	msg := e.Code + ": " + e.Message
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	status := http.StatusOK
	switch e.Status {
	case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge,
		http.StatusServiceUnavailable:
		status = e.Status
	}
	setErrorHeaders(w.Header(), e)
	writeXML(w, status, encodeXMLRPCFault(e.Status, msg))
}

// bytesToStrings turns <base64> values into strings, for clients that send
// text that way; JSON would otherwise re-encode them as base64.
func bytesToStrings(v any) any {
	switch t := v.(type) {
	case []byte:
		return string(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = bytesToStrings(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = bytesToStrings(e)
		}
		return out
	}
	return v
}
