package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

// TestIdentityFields: the JSON API and XML-RPC take the seed's identity
// columns, validated as a raw SQL row is (md5secret an HA1), and an account
// may not use the ones that let it act as someone else.
func TestIdentityFields(t *testing.T) {
	ha1 := callback.HA1("902", "sip.example.net", "secret")
	ha1b := callback.HA1("903", "sip.example.net", "secret")
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		t.Run("operator sets every field", func(t *testing.T) {
			body := fmt.Sprintf(`{"username":"alice","original_cli":"87654321","original_cld":"2way_12345",
				"authname":"902","md5secret":%q,"original_set_cli":"4930111","twoway_cli":"4930999",
				"twoway_authname":"903","twoway_md5secret":%q,"call_id":"sw-call-1","twoway_call_id":"sw-call-1-b"}`, ha1, ha1b)
			r := e.postJSON("/api/v1/requests", body, asOperator)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if strings.Contains(string(r.body), ha1) || strings.Contains(string(r.body), ha1b) || strings.Contains(string(r.body), "md5secret") {
				t.Errorf("the answer shows an md5secret: %s", r.body)
			}
			v := r.view(t)
			if v.Authname != "902" || v.TwowayCLI != "4930999" || v.TwowayAuthname != "903" || v.CallID != "sw-call-1" || v.TwowayCallID != "sw-call-1-b" {
				t.Errorf("view %+v", v)
			}
			got, err := e.store.GetRequest(t.Context(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Authname != "902" || got.MD5Secret != ha1 || got.OriginalSetCLI != "4930111" || got.TwowayCLI != "4930999" ||
				got.TwowayAuthname != "903" || got.TwowayMD5Secret != ha1b || got.CallID != "sw-call-1" || got.TwowayCallID != "sw-call-1-b" {
				t.Errorf("stored %+v", got)
			}
		})
		t.Run("an account names itself and its leg B caller ID", func(t *testing.T) {
			v := e.create(`{"original_cli":"87654321","original_cld":"2way_12345","authname":"alice","twoway_authname":"alice","twoway_cli":"4930999"}`, asAlice)
			if v.Authname != "alice" || v.TwowayCLI != "4930999" {
				t.Errorf("view %+v", v)
			}
		})
		forbidden := []struct{ field, json string }{
			{"authname", `"authname":"bob"`},
			{"twoway_authname", `"twoway_authname":"902"`},
			{"md5secret", `"md5secret":"` + ha1 + `"`},
			{"twoway_md5secret", `"twoway_md5secret":"` + ha1 + `"`},
			{"call_id", `"call_id":"x-1"`},
			{"twoway_call_id", `"twoway_call_id":"x-1-b"`},
		}
		for _, f := range forbidden {
			r := e.postJSON("/api/v1/requests", `{"original_cli":"87654321",`+f.json+`}`, asAlice)
			if r.status != http.StatusForbidden || r.apiErr(t).Code != CodeForbidden || r.apiErr(t).Field != f.field {
				t.Errorf("account with %s: %d %s", f.field, r.status, r.body)
			}
		}
		bad := []struct{ field, json string }{
			{"md5secret", `"md5secret":"<md5secret>"`},
			{"md5secret", `"md5secret":"` + ha1[:31] + `"`},
			{"twoway_md5secret", `"twoway_md5secret":"` + strings.Repeat("g", 32) + `"`},
			{"twoway_cli", `"twoway_cli":"Bob <1>"`},
			{"authname", `"authname":"a b"`},
			{"twoway_authname", `"twoway_authname":"a;b"`},
			{"call_id", `"call_id":"a,b"`},
			{"call_id", `"call_id":"` + strings.Repeat("c", 150) + `"`},
			{"twoway_call_id", `"call_id":"same","twoway_call_id":"same"`},
		}
		for _, b := range bad {
			r := e.postJSON("/api/v1/requests", `{"username":"alice","original_cli":"87654321",`+b.json+`}`, asOperator)
			if r.status != http.StatusBadRequest || r.apiErr(t).Field != b.field {
				t.Errorf("%s: %d %s", b.json, r.status, r.body)
			}
		}
		t.Run("a retry with another identity is a conflict", func(t *testing.T) {
			body := `{"username":"alice","original_cli":"87654321","request_key":"id-1","md5secret":"%s"}`
			if r := e.postJSON("/api/v1/requests", fmt.Sprintf(body, ha1), asOperator); r.status != http.StatusCreated {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r := e.postJSON("/api/v1/requests", fmt.Sprintf(body, strings.ToUpper(ha1)), asOperator); r.status != http.StatusOK {
				t.Errorf("same request again: %d %s", r.status, r.body)
			}
			if r := e.postJSON("/api/v1/requests", fmt.Sprintf(body, ha1b), asOperator); r.status != http.StatusConflict {
				t.Errorf("other md5secret, same key: %d %s", r.status, r.body)
			}
		})
		t.Run("XML-RPC", func(t *testing.T) {
			create := func(extra string) string {
				return `<methodCall><methodName>callback.create</methodName><params><param><value><struct>
				<member><name>username</name><value>alice</value></member>
				<member><name>original_cli</name><value>87654321</value></member>
				<member><name>original_cld</name><value>2way_12345</value></member>` + extra + `
				</struct></value></param></params></methodCall>`
			}
			ids := `<member><name>md5secret</name><value>` + ha1 + `</value></member>
				<member><name>authname</name><value>902</value></member>
				<member><name>twoway_cli</name><value>4930999</value></member>
				<member><name>call_id</name><value>rpc-call-1</value></member>`
			v, fault, msg := decodeResponse(t, e.rpc(create(ids), asOperator).body)
			if fault != 0 {
				t.Fatalf("fault %d %s", fault, msg)
			}
			id, _ := member(t, v, "id").(int64)
			got, err := e.store.GetRequest(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if got.MD5Secret != ha1 || got.Authname != "902" || got.TwowayCLI != "4930999" || got.CallID != "rpc-call-1" {
				t.Errorf("stored %+v", got)
			}
			if _, fault, _ := decodeResponse(t, e.rpc(create(ids), asAlice).body); fault != http.StatusForbidden {
				t.Errorf("account's md5secret over XML-RPC: fault %d", fault)
			}
			bad := `<member><name>md5secret</name><value>nothex</value></member>`
			if _, fault, msg := decodeResponse(t, e.rpc(create(bad), asOperator).body); fault != http.StatusBadRequest || !strings.Contains(msg, "md5secret") {
				t.Errorf("bad md5secret over XML-RPC: fault %d %s", fault, msg)
			}
		})
	})
}
