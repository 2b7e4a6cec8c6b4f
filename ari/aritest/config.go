package aritest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
)

type configField struct {
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
}

// sorceryTypes are the object types each configuration class registers
// (ast_sorcery_retrieve_by_module_name, ast_sorcery_get_object_type).
var sorceryTypes = map[string]map[string]bool{
	"res_pjsip": {
		"endpoint": true, "auth": true, "aor": true, "contact": true, "transport": true,
		"identify": true, "domain_alias": true, "global": true, "system": true,
		"acl": true, "registration": true, "outbound-publish": true, "phoneprov": true,
	},
	"res_pjsip_outbound_registration":  {"registration": true},
	"res_pjsip_endpoint_identifier_ip": {"identify": true},
	"res_pjsip_outbound_publish":       {"outbound-publish": true},
}

// authFields are the fields res_pjsip registers for auth objects; an unknown
// one fails ast_sorcery_objectset_apply.
var authFields = map[string]bool{
	"type": true, "auth_type": true, "username": true, "password": true,
	"md5_cred": true, "realm": true, "nonce_lifetime": true, "refresh_token": true,
	"oauth_clientid": true, "oauth_secret": true, "password_digest": true,
	"supported_algorithms_uac": true, "supported_algorithms_uas": true,
}

var authTypes = map[string]bool{"userpass": true, "md5": true, "digest": true, "google_oauth": true}

var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_.\-]*$`)

func (s *Sim) sorceryLookup(w http.ResponseWriter, p *params) (class, typ, id string, ok bool) {
	class, typ, id = p.r.PathValue("class"), p.r.PathValue("type"), p.r.PathValue("id")
	types, found := sorceryTypes[class]
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("configClass '%s' not found", class))
		return "", "", "", false
	}
	if !types[typ] {
		writeError(w, http.StatusNotFound, fmt.Sprintf("objectType '%s' not found", typ))
		return "", "", "", false
	}
	return class, typ, id, true
}

func (s *Sim) getObject(w http.ResponseWriter, p *params) {
	class, typ, id, ok := s.sorceryLookup(w, p)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fields, found := s.objects[class][typ][id]
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Object with id '%s' not found", id))
		return
	}
	writeJSON(w, http.StatusOK, fields)
}

// validFields is a loose ast_sorcery_objectset_apply.
func validFields(typ string, fields []configField) bool {
	for _, f := range fields {
		if !fieldName.MatchString(f.Attribute) {
			return false
		}
		if typ == "auth" {
			if !authFields[f.Attribute] {
				return false
			}
			if f.Attribute == "auth_type" && !authTypes[f.Value] {
				return false
			}
		}
	}
	return true
}

func (s *Sim) putObject(w http.ResponseWriter, p *params) {
	class, typ, id, ok := s.sorceryLookup(w, p)
	if !ok {
		return
	}
	var fields []configField
	raw, hasFields := p.body["fields"]
	if hasFields {
		if err := json.Unmarshal(raw, &fields); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Fields must be provided to update object '%s'", id))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	existing, found := s.objects[class][typ][id]
	if found && !hasFields {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Fields must be provided to update object '%s'", id))
		return
	}
	if !validFields(typ, fields) {
		verb := "Update"
		if !found {
			verb = "Creation"
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s of object '%s' failed field value validation", verb, id))
		return
	}
	if s.cfg.readOnlyConfig {
		verb := "update"
		if !found {
			verb = "create"
		}
		writeError(w, http.StatusForbidden, fmt.Sprintf("Cannot %s sorcery objects of type '%s'", verb, typ))
		return
	}
	merged := append([]configField(nil), existing...)
	for _, f := range fields {
		replaced := false
		for i := range merged {
			if merged[i].Attribute == f.Attribute {
				merged[i].Value = f.Value
				replaced = true
				break
			}
		}
		if !replaced {
			merged = append(merged, f)
		}
	}
	if s.objects[class] == nil {
		s.objects[class] = make(map[string]map[string][]configField)
	}
	if s.objects[class][typ] == nil {
		s.objects[class][typ] = make(map[string][]configField)
	}
	if merged == nil {
		merged = []configField{}
	}
	s.objects[class][typ][id] = merged
	writeJSON(w, http.StatusOK, merged)
}

func (s *Sim) deleteObject(w http.ResponseWriter, p *params) {
	class, typ, id, ok := s.sorceryLookup(w, p)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.objects[class][typ][id]; !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Object with id '%s' not found", id))
		return
	}
	if s.cfg.readOnlyConfig {
		writeError(w, http.StatusForbidden, fmt.Sprintf("Could not delete object with id '%s'", id))
		return
	}
	delete(s.objects[class][typ], id)
	noContent(w)
}
