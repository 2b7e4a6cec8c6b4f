package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeCreate feeds the strict JSON decoder of POST /api/v1/requests:
// it never panics, every refusal is a client error with a bounded message,
// and what it accepts survives a round trip.
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","original_cli":"4930111222","destination":"12345"}`,
		`{"original_cli":"1","original_cld":"callingcard_en_th","credit_time":600,"next_call":"2030-01-02T15:04:05Z"}`,
		`{"original_cli":"1","request_key":"k"} {}`,
		`{"original_cli":1}`,
		`{"x":1}`,
		`[]`, `null`, ``, `{`, `{"credit_time":1e400}`, `{"username":"\u0000<script>"}`,
		`{"credit_time":-9223372036854775809}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in CreateInput
		err := decodeStrict(data, &in)
		if err != nil {
			e := classify(err)
			if e.Status != http.StatusBadRequest || len(e.Message) > 300 || len(e.Field) > 80 {
				t.Fatalf("refusal %+v for %q", e, data)
			}
			return
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var again CreateInput
		if err := decodeStrict(b, &again); err != nil || again != in {
			t.Fatalf("round trip of %q: %+v, %v", data, again, err)
		}
	})
}

// FuzzDecodeXMLRPC feeds the XML-RPC decoder: it never panics, refuses
// with a fault of its own, and what it accepts the encoder writes back in a
// form it reads again to the same values.
func FuzzDecodeXMLRPC(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0"?><methodCall><methodName>callback.create</methodName><params><param><value><struct><member><name>original_cli</name><value><string>4930111222</string></value></member><member><name>credit_time</name><value><int>60</int></value></member></struct></value></param></params></methodCall>`,
		`<methodCall><methodName>callback.list</methodName></methodCall>`,
		`<methodCall><methodName>m</methodName><params><param><value><array><data><value><i8>1</i8></value><value><boolean>1</boolean></value><value><double>1.5</double></value><value><base64>aGk=</base64></value><value><nil/></value><value><dateTime.iso8601>20300102T03:04:05</dateTime.iso8601></value></data></array></value></param></params></methodCall>`,
		`<!DOCTYPE x [<!ENTITY e "x">]><methodCall><methodName>&e;</methodName></methodCall>`,
		`<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name></member></struct></value></param></params></methodCall>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>caf` + "\xe9" + `</methodName></methodCall>`,
		`<methodCall>`, ``, `<a/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		call, err := decodeXMLRPC(data)
		if err != nil {
			var xe *xmlrpcError
			if !errors.As(err, &xe) || (xe.code != FaultParse && xe.code != FaultInvalidRequest) {
				t.Fatalf("error %v (%T) for %q", err, err, data)
			}
			return
		}
		out, err := encodeXMLRPCResponse(call.Params)
		if err != nil {
			t.Fatalf("encode %#v: %v", call.Params, err)
		}
		s := strings.Replace(strings.Replace(string(out), "<methodResponse>", "<methodCall><methodName>r</methodName>", 1), "</methodResponse>", "</methodCall>", 1)
		back, err := decodeXMLRPC([]byte(s))
		if err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		// Strings may change where XML cannot carry a character (it
		// becomes U+FFFD), so only the shape is compared.
		if got, want := shape(back.Params[0]), shape(call.Params); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip shape %v, want %v", got, want)
		}
	})
}

// shape replaces every scalar with its type name.
func shape(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			out[k] = shape(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = shape(e)
		}
		return out
	}
	return reflect.TypeOf(v)
}
