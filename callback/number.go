package callback

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// anonymousCLIs are the caller IDs Asterisk and carriers use when the
// number is unknown or withheld ("unknown" is what agi_callerid reads when
// no caller ID arrived).
var anonymousCLIs = map[string]bool{
	"": true, "unknown": true, "anonymous": true, "restricted": true, "private": true,
	"withheld": true, "unavailable": true, "asterisk": true, "0": true,
}

// CLIError says why a caller ID cannot be called back.
type CLIError struct {
	CLI    string
	Reason string
}

func (e *CLIError) Error() string { return fmt.Sprintf("caller ID %q: %s", e.CLI, e.Reason) }

// presentationRestricted reports whether agi_callingpres says the caller
// withheld the number (Q.931 presentation indicator bits 01 or 10).
func presentationRestricted(callingPres string) bool {
	n, err := strconv.Atoi(strings.TrimSpace(callingPres))
	if err != nil {
		return false
	}
	return n&0x60 != 0
}

// NormalizeCLI is the one place a phone number a caller gave (caller ID,
// SMS sender, web form, email) becomes the digits accounts are keyed by;
// ValidDestination is the check of a number callbackd dials.
//
// NormalizeCLI turns a caller ID into the number callbackd calls back and
// looks up accounts by: E.164 digits without the leading + when region is
// set (national "030 1234567", international "0049 30 1234567" or
// "+49301234567" forms, and local "1234567" forms when areaCode is set), or
// the digits as they came when no region is configured (private networks
// with extensions such as 801).
func NormalizeCLI(cli, callingPres, region, areaCode string) (string, error) {
	raw := strings.TrimSpace(cli)
	if anonymousCLIs[strings.ToLower(raw)] {
		return "", &CLIError{CLI: cli, Reason: "anonymous or unknown"}
	}
	if presentationRestricted(callingPres) {
		return "", &CLIError{CLI: cli, Reason: "presentation restricted (withheld)"}
	}
	cleaned := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r == '+':
			return r
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
			return -1
		}
		return 'x'
	}, raw)
	if strings.ContainsRune(cleaned, 'x') || strings.LastIndex(cleaned, "+") > 0 || strings.Trim(cleaned, "+") == "" {
		return "", &CLIError{CLI: cli, Reason: "not a phone number"}
	}
	if region == "" {
		digits := strings.TrimPrefix(cleaned, "+")
		if strings.HasPrefix(digits, "00") {
			digits = digits[2:]
		}
		if len(digits) < 2 || len(digits) > 15 {
			return "", &CLIError{CLI: cli, Reason: "length is not that of a phone number"}
		}
		return digits, nil
	}
	region = strings.ToUpper(region)
	ndd := phonenumbers.GetNddPrefixForRegion(region, true)
	if areaCode != "" && !strings.HasPrefix(cleaned, "+") && (ndd == "" || !strings.HasPrefix(cleaned, ndd)) &&
		!strings.HasPrefix(cleaned, "00") {
		// A local-format number, dialled without its area code.
		cleaned = ndd + areaCode + cleaned
	}
	num, err := phonenumbers.Parse(cleaned, region)
	if err != nil {
		return "", &CLIError{CLI: cli, Reason: "unparseable for region " + region + ": " + err.Error()}
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", &CLIError{CLI: cli, Reason: "not a valid number in region " + region}
	}
	return strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+"), nil
}
