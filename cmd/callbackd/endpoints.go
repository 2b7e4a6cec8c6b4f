package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// optionalParts names each optional part that the configuration leaves off
// and how to turn it on: /readyz and GET / say so, rather than a bare
// "ready" that hides a server which can queue but never call.
func optionalParts(c *Config) map[string]string {
	off := map[string]string{}
	if !ariConfigured(c) {
		off["ari"] = "no ari.url: requests are queued and wait; set ari.url (CALLBACKD_ARI_URL), e.g. http://127.0.0.1:8088"
	}
	if c.AGI.Listen == "" {
		off["fastagi"] = "agi.listen is empty: access numbers cannot trigger callbacks"
	}
	if c.Web.Modes == "" {
		off["web"] = "web.modes is empty: no callback page"
	}
	if c.SMTP.Listen == "" {
		off["smtp"] = "smtp.listen is empty: no email trigger listener"
	}
	if c.SMS.Secret == "" && c.SMS.TwilioAuthToken == "" {
		off["sms"] = "neither sms.secret nor sms.twilio_auth_token: no SMS webhook"
	}
	return off
}

type endpoint struct {
	Path string `json:"path"`
	What string `json:"what"`
}

// endpointsOn lists the HTTP endpoints this configuration serves.
func endpointsOn(c *Config) []endpoint {
	eps := []endpoint{
		{"/api/v1/requests", "callback requests: create (POST), list, get, cancel"},
		{"/api/v1/openapi.yaml", "the API's OpenAPI document"},
		{"/RPC2", "XML-RPC: callback.create, callback.get, callback.list, callback.cancel"},
	}
	if c.SMS.Secret != "" || c.SMS.TwilioAuthToken != "" {
		eps = append(eps, endpoint{"/sms/inbound", "the SMS gateway's webhook"})
	}
	for _, m := range splitList(c.Web.Modes) {
		eps = append(eps, endpoint{"/callback/" + m, "the web callback page, " + m + " mode"})
	}
	return append(eps,
		endpoint{"/metrics", "Prometheus metrics"},
		endpoint{"/healthz", "alive"},
		endpoint{"/readyz", "ready: the store and, when configured, the ARI connection"},
	)
}

// withIndex adds GET / (the endpoints that are on and the parts that are
// off; the web page keeps / for browsers when it is on) and names the off
// parts in a successful /readyz answer.
func withIndex(h http.Handler, c *Config) http.Handler {
	off := optionalParts(c)
	index, _ := json.MarshalIndent(struct {
		Service   string            `json:"service"`
		Version   string            `json:"version"`
		Endpoints []endpoint        `json:"endpoints"`
		Off       map[string]string `json:"off,omitempty"`
	}{"callbackd", readBuildInfo().Version, endpointsOn(c), off}, "", "  ")
	webOn := c.Web.Modes != ""
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			(!webOn || strings.Contains(r.Header.Get("Accept"), "application/json")):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				w.Write(append(index, '\n'))
			}
		case r.URL.Path == "/readyz" && r.Method == http.MethodGet && len(off) > 0:
			rec := &recorder{header: http.Header{}}
			h.ServeHTTP(rec, r)
			body := rec.body.Bytes()
			if rec.code == http.StatusOK {
				var m map[string]any
				if json.Unmarshal(body, &m) == nil {
					m["off"] = off
					if _, ok := off["ari"]; ok && m["status"] == "ready" {
						m["status"] = "partial" // requests are taken and queued, but nothing calls
					}
					if b, err := json.Marshal(m); err == nil {
						body = append(b, '\n')
						rec.header.Del("Content-Length")
					}
				}
			}
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.code)
			w.Write(body)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// recorder keeps a response to rewrite it.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
