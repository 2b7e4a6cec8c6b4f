package callback

import (
	"errors"
	"slices"
	"testing"
)

func TestParseCLD(t *testing.T) {
	tests := []struct {
		in   string
		want CLD
		err  bool
	}{
		{"2way_12345", CLD{App: SubAppTwoWay, Destination: "12345"}, false},
		{"2way_+4930123", CLD{App: SubAppTwoWay, Destination: "+4930123"}, false},
		{"callingcard_en_th", CLD{App: SubAppCallingCard, Languages: []string{"en", "th"}}, false},
		{"callingcard", CLD{App: SubAppCallingCard}, false},
		{"", CLD{App: SubAppCallingCard}, false},
		{"2way_", CLD{}, true},
		{"2way", CLD{}, true},
		{"2way_12a45", CLD{}, true},
		{"callingcard_english", CLD{}, true},
		{"voicemail_1", CLD{}, true},
		{"2way_1; DROP TABLE callback_requests", CLD{}, true},
	}
	for _, tt := range tests {
		got, err := ParseCLD(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseCLD(%q) error = %v, want err=%v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseCLD(%q) error %v does not wrap ErrInvalid", tt.in, err)
			}
			continue
		}
		if got.App != tt.want.App || got.Destination != tt.want.Destination || !slices.Equal(got.Languages, tt.want.Languages) {
			t.Errorf("ParseCLD(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if tt.in != "" && got.String() != tt.in {
			t.Errorf("CLD(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestParseCLDRule(t *testing.T) {
	r, err := ParseCLDRule("ani_callingcard_en_th")
	if err != nil || r.NoAnonAcct || r.CLD.App != SubAppCallingCard || !slices.Equal(r.CLD.Languages, []string{"en", "th"}) {
		t.Fatalf("ani_callingcard_en_th: %+v, %v", r, err)
	}
	r, err = ParseCLDRule("ani_2way_12345")
	if err != nil || r.CLD.App != SubAppTwoWay || r.CLD.Destination != "12345" {
		t.Fatalf("ani_2way_12345: %+v, %v", r, err)
	}
	r, err = ParseCLDRule("ani_noanonacct_2way_12345")
	if err != nil || !r.NoAnonAcct || r.CLD.Destination != "12345" {
		t.Fatalf("ani_noanonacct_2way_12345: %+v, %v", r, err)
	}
	for _, bad := range []string{"2way_12345", "ani_", "ani_noanonacct", "ani_bogus_1", "ani_2way_"} {
		if _, err := ParseCLDRule(bad); err == nil {
			t.Errorf("ParseCLDRule(%q) succeeded", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Request{Username: "801", OriginalCLI: "87654321", OriginalCLD: "2way_12345"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	tests := map[string]func(r *Request){
		"username":     func(r *Request) { r.Username = " " },
		"original_cli": func(r *Request) { r.OriginalCLI = "" },
		"original_cld": func(r *Request) { r.OriginalCLD = "2way_" },
		"credit_time":  func(r *Request) { r.CreditTime = -1 },
	}
	for field, mutate := range tests {
		r := ok
		mutate(&r)
		err := r.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: got %v, want a ValidationError on %s", field, err, field)
		}
	}
	r := ok
	r.MD5Secret = "<md5secret>"
	if err := r.Validate(); err != nil {
		t.Errorf("the seed's placeholder md5secret must pass Validate (raw SQL rows): %v", err)
	}
	if err := r.ValidateSecrets(); err == nil {
		t.Error("ValidateSecrets accepted a non-HA1 md5secret")
	}
	r.MD5Secret = HA1("801", "callbackd", "secret")
	if err := r.ValidateSecrets(); err != nil {
		t.Errorf("ValidateSecrets refused an HA1: %v", err)
	}
}

func TestHA1(t *testing.T) {
	// MD5("801:callbackd:secret")
	if got := HA1("801", "callbackd", "secret"); len(got) != 32 || got != HA1("801", "callbackd", "secret") || got == HA1("801", "callbackd", "Secret") {
		t.Fatalf("HA1 = %q", got)
	}
}
