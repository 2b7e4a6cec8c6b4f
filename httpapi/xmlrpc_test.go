package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// rpc posts an XML-RPC body as a switch would.
func (e *env) rpc(body string, creds ...cred) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/RPC2", "text/xml", body, creds...)
}

// decodeResponse reads a methodResponse: its value, or its fault.
func decodeResponse(t *testing.T, body []byte) (any, int, string) {
	t.Helper()
	s := string(body)
	if strings.Contains(s, "<fault>") {
		code := regexp.MustCompile(`<name>faultCode</name><value><int>(-?\d+)</int>`).FindStringSubmatch(s)
		msg := regexp.MustCompile(`<name>faultString</name><value><string>([^<]*)</string>`).FindStringSubmatch(s)
		if code == nil || msg == nil {
			t.Fatalf("malformed fault: %s", s)
		}
		n, _ := strconv.Atoi(code[1])
		return nil, n, msg[1]
	}
	// A methodResponse has the shape of a methodCall's params.
	call, err := decodeXMLRPC([]byte(strings.Replace(strings.Replace(s, "<methodResponse>", "<methodCall><methodName>r</methodName>", 1), "</methodResponse>", "</methodCall>", 1)))
	if err != nil || len(call.Params) != 1 {
		t.Fatalf("malformed response (%v): %s", err, s)
	}
	return call.Params[0], 0, ""
}

func member(t *testing.T, v any, name string) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a struct: %#v", v)
	}
	return m[name]
}

func TestXMLRPC(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		later := time.Now().Add(30 * time.Minute).UTC().Format("20060102T15:04:05")
		create := `<?xml version="1.0"?>
<methodCall>
  <methodName>callback.create</methodName>
  <params>
    <param>
      <value><struct>
        <member><name>username</name><value><string>alice</string></value></member>
        <member><name>original_cli</name><value>4930111222</value></member>
        <member><name>destination</name><value><string>12345</string></value></member>
        <member><name>credit_time</name><value><i4>300</i4></value></member>
        <member><name>next_call</name><value><dateTime.iso8601>` + later + `</dateTime.iso8601></value></member>
      </struct></value>
    </param>
  </params>
</methodCall>`
		r := e.rpc(create, asOperator, header("Idempotency-Key", "sw-1"))
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/xml") {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		v, fault, msg := decodeResponse(t, r.body)
		if fault != 0 {
			t.Fatalf("create fault %d %s", fault, msg)
		}
		id, _ := member(t, v, "id").(int64)
		if id == 0 || member(t, v, "original_cld") != "2way_12345" || member(t, v, "credit_time") != int64(300) ||
			member(t, v, "status") != string(callback.StatusRequestReceived) || member(t, v, "request_key") != "sw-1" {
			t.Fatalf("created %#v", v)
		}
		if nc, ok := member(t, v, "next_call").(time.Time); !ok || nc.Format("20060102T15:04:05") != later {
			t.Errorf("next_call %#v, want %s", member(t, v, "next_call"), later)
		}
		// A retry with the same key is the same request.
		again, _, _ := decodeResponse(t, e.rpc(create, asOperator, header("Idempotency-Key", "sw-1")).body)
		if member(t, again, "id") != id {
			t.Errorf("retry created %v, first %d", member(t, again, "id"), id)
		}

		get := fmt.Sprintf(`<methodCall><methodName>callback.get</methodName><params><param><value><struct><member><name>id</name><value><int>%d</int></value></member></struct></value></param></params></methodCall>`, id)
		g, fault, msg := decodeResponse(t, e.rpc(get, asAlice).body)
		if fault != 0 {
			t.Fatalf("get fault %d %s", fault, msg)
		}
		if h, ok := member(t, g, "history").([]any); !ok || len(h) == 0 {
			t.Errorf("get: no history: %#v", g)
		}
		// Bob does not see alice's request.
		if _, fault, _ := decodeResponse(t, e.rpc(get, asBob).body); fault != http.StatusNotFound {
			t.Errorf("bob's get: fault %d", fault)
		}

		list := `<methodCall><methodName>callback.list</methodName><params><param><value><struct>
			<member><name>username</name><value>alice</value></member>
			<member><name>finished</name><value><boolean>0</boolean></value></member>
			<member><name>limit</name><value><int>10</int></value></member>
		</struct></value></param></params></methodCall>`
		l, fault, msg := decodeResponse(t, e.rpc(list, asOperator).body)
		if fault != 0 {
			t.Fatalf("list fault %d %s", fault, msg)
		}
		if reqs, _ := member(t, l, "requests").([]any); len(reqs) != 1 {
			t.Errorf("list: %#v", l)
		}
		noParams := `<methodCall><methodName>callback.list</methodName></methodCall>`
		if _, fault, msg := decodeResponse(t, e.rpc(noParams, asAlice).body); fault != 0 {
			t.Errorf("list without params: %d %s", fault, msg)
		}

		cancel := strings.Replace(get, "callback.get", "callback.cancel", 1)
		c, fault, msg := decodeResponse(t, e.rpc(cancel, asAlice).body)
		if fault != 0 {
			t.Fatalf("cancel fault %d %s", fault, msg)
		}
		if member(t, c, "result") != string(callback.ResultCanceled) || member(t, c, "finished") != true {
			t.Errorf("canceled: %#v", c)
		}
	})
}

func TestXMLRPCFaults(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) { o.Limits = &Limits{} })
	call := func(method, members string) string {
		return `<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params><param><value><struct>` +
			members + `</struct></value></param></params></methodCall>`
	}
	m := func(name, value string) string {
		return "<member><name>" + name + "</name><value>" + value + "</value></member>"
	}
	tests := []struct {
		name     string
		body     string
		fault    int
		contains string
	}{
		{"not XML", `this is not xml`, FaultParse, ""},
		{"unclosed", `<methodCall><methodName>callback.get</methodName>`, FaultParse, ""},
		{"mismatched tags", `<methodCall><methodName>x</methodCall></methodName>`, FaultParse, ""},
		{"DTD entity", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><methodCall><methodName>&e;</methodName></methodCall>`, FaultParse, ""},
		{"undefined entity", `<methodCall><methodName>&e;</methodName></methodCall>`, FaultParse, ""},
		{"trailing element", `<methodCall><methodName>callback.list</methodName></methodCall><x/>`, FaultParse, ""},
		{"not a methodCall", `<methodResponse/>`, FaultInvalidRequest, ""},
		{"no methodName", `<methodCall><params/></methodCall>`, FaultInvalidRequest, ""},
		{"unknown type", call("callback.create", m("original_cli", "<bigint>1</bigint>")), FaultInvalidRequest, "bigint"},
		{"two typed children", call("callback.create", m("original_cli", "<string>1</string><string>2</string>")), FaultInvalidRequest, ""},
		{"bad int", call("callback.get", m("id", "<int>twelve</int>")), FaultInvalidRequest, ""},
		{"i4 overflow", call("callback.get", m("id", "<i4>9999999999</i4>")), FaultInvalidRequest, ""},
		{"bad boolean", call("callback.list", m("finished", "<boolean>yes</boolean>")), FaultInvalidRequest, ""},
		{"bad date", call("callback.create", m("next_call", "<dateTime.iso8601>soon</dateTime.iso8601>")), FaultInvalidRequest, ""},
		{"duplicate member", call("callback.get", m("id", "<int>1</int>")+m("id", "<int>2</int>")), FaultInvalidRequest, ""},
		{"deep nesting", call("callback.create", m("x", strings.Repeat("<array><data><value>", 20)+"1"+strings.Repeat("</value></data></array>", 20))), FaultInvalidRequest, "nested"},
		{"unknown method", `<methodCall><methodName>system.shutdown</methodName></methodCall>`, FaultUnknownMethod, "system.shutdown"},
		{"two params", `<methodCall><methodName>callback.get</methodName><params><param><value><int>1</int></value></param><param><value><int>2</int></value></param></params></methodCall>`, FaultInvalidParams, ""},
		{"param not a struct", `<methodCall><methodName>callback.get</methodName><params><param><value><int>1</int></value></param></params></methodCall>`, FaultInvalidParams, ""},
		{"unknown member", call("callback.create", m("username", "alice")+m("original_cli", "1234")+m("md5secret", "x")), 400, "invalid_request"},
		{"member of the wrong type", call("callback.create", m("username", "alice")+m("original_cli", "<int>1234</int>")), 400, "original_cli"},
		{"validation", call("callback.create", m("username", "alice")+m("original_cli", "<![CDATA[<script>]]>")), 400, "original_cli"},
		{"missing id", call("callback.get", ""), 400, "id"},
		{"not found", call("callback.get", m("id", "<int>424242</int>")), 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.rpc(tt.body, asOperator)
			if r.status != http.StatusOK {
				t.Fatalf("HTTP %d: %s", r.status, r.body)
			}
			_, fault, msg := decodeResponse(t, r.body)
			if fault != tt.fault || !strings.Contains(msg, tt.contains) {
				t.Errorf("fault %d %q, want %d containing %q", fault, msg, tt.fault, tt.contains)
			}
			// The fault is well-formed XML (decodeResponse read it) and
			// carries no element from the input.
			for _, tag := range []string{"<script", "<bigint", "<![CDATA["} {
				if strings.Contains(string(r.body), tag) {
					t.Errorf("fault reflects %q: %s", tag, r.body)
				}
			}
			if strings.Contains(string(r.body), "root:") {
				t.Error("an external entity was read")
			}
		})
	}
	t.Run("transport errors", func(t *testing.T) {
		body := call("callback.list", "")
		if r := e.rpc(body, anonymous); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("no credentials: %d", r.status)
		} else if _, fault, _ := decodeResponse(t, r.body); fault != http.StatusUnauthorized {
			t.Errorf("no credentials: fault %d", fault)
		}
		if r := e.do(http.MethodPost, "/RPC2", "application/json", body, asOperator); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("JSON content type: %d", r.status)
		}
		big := call("callback.create", m("username", strings.Repeat("a", 70<<10)))
		if r := e.rpc(big, asOperator); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("large body: %d", r.status)
		}
	})
	if n := e.count(); n != 0 {
		t.Errorf("%d requests stored from faulty calls", n)
	}
}

func TestXMLRPCLatin1(t *testing.T) {
	body := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>callback.list</methodName><params><param><value><struct>" +
		"<member><name>username</name><value>J\xfcrgen</value></member></struct></value></param></params></methodCall>"
	call, err := decodeXMLRPC([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := call.Params[0].(map[string]any)["username"]; got != "Jürgen" {
		t.Errorf("username %q", got)
	}
}

func TestXMLRPCValues(t *testing.T) {
	body := `<methodCall><methodName>m</methodName><params>
	<param><value>plain</value></param>
	<param><value><string></string></value></param>
	<param><value><int>-7</int></value></param>
	<param><value><i8>9000000000</i8></value></param>
	<param><value><boolean>1</boolean></value></param>
	<param><value><double>-1.25</double></value></param>
	<param><value><dateTime.iso8601>20300102T03:04:05</dateTime.iso8601></value></param>
	<param><value><base64>aGVs
	bG8=</base64></value></param>
	<param><value><nil/></value></param>
	<param><value><array><data><value><int>1</int></value><value>two</value></data></array></value></param>
	<param><value><struct><member><value><int>1</int></value><name>reversed</name></member></struct></value></param>
	</params></methodCall>`
	call, err := decodeXMLRPC([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"plain", "", int64(-7), int64(9000000000), true, -1.25, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		[]byte("hello"), nil, []any{int64(1), "two"}, map[string]any{"reversed": int64(1)}}
	if !reflect.DeepEqual(call.Params, want) {
		t.Fatalf("got %#v\nwant %#v", call.Params, want)
	}
	// What the encoder writes, the decoder reads back.
	out, err := encodeXMLRPCResponse(call.Params)
	if err != nil {
		t.Fatal(err)
	}
	back, _, _ := decodeResponse(t, out)
	if !reflect.DeepEqual(back, any(call.Params)) {
		t.Errorf("round trip: %#v", back)
	}
}
