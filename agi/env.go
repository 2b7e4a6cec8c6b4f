package agi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Var is one line of the environment block as Asterisk sent it.
type Var struct {
	Name  string // e.g. "agi_channel"
	Value string
}

// Env is the environment block Asterisk sends when a FastAGI session starts
// (setup_env in res_agi.c), with the well-known variables typed.
type Env struct {
	Network       bool   // agi_network: "yes" on every FastAGI connection
	NetworkScript string // agi_network_script: path and query after host:port, e.g. "ani?x=y"
	Request       string // agi_request: the full URL given to AGI()
	Channel       string // agi_channel, e.g. "PJSIP/trunk-00000001"
	Language      string
	Type          string // channel technology, e.g. "PJSIP"
	UniqueID      string
	Version       string // Asterisk version, e.g. "22.10.0"
	CallerID      string // "unknown" when the caller withheld it
	CallerIDName  string
	CallingPres   int
	CallingANI2   int
	CallingTON    int
	CallingTNS    int
	DNID          string
	RDNIS         string
	Context       string
	Extension     string
	Priority      int
	Enhanced      bool // EAGI
	AccountCode   string
	ThreadID      int64
	Args          []string // agi_arg_1.. : the AGI() arguments after the URL

	// Script is the route: NetworkScript without a leading '/' and without
	// the query.
	Script string
	// Params are the query's key=value pairs. Values are %-decoded but '+'
	// is kept, because the dialplan does not encode and E.164 numbers start
	// with '+'.
	Params url.Values

	// Vars holds every line in the order received, including unknown ones.
	Vars []Var
}

// Lookup returns the raw value of an environment variable by its full name.
func (e *Env) Lookup(name string) (string, bool) {
	for _, v := range e.Vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// ParseEnv parses the lines of an environment block (without the blank line
// that ends it). Every line must be "name: value"; integers must be integers;
// agi_request and agi_channel must be present.
func ParseEnv(lines []string) (Env, error) {
	env := Env{Vars: make([]Var, 0, len(lines))}
	var seen seenVars
	for i, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return env, fmt.Errorf("agi env line %d: %w", i+1, protocolError("not a name: value line", []byte(line)))
		}
		value = strings.TrimPrefix(value, " ")
		if !seen.add(name, env.Vars) {
			return env, fmt.Errorf("agi env line %d: %w", i+1, protocolError("duplicate variable", []byte(line)))
		}
		env.Vars = append(env.Vars, Var{Name: name, Value: value})
		if err := env.set(name, value); err != nil {
			return env, fmt.Errorf("agi env line %d: %w", i+1, protocolError(err.Error(), []byte(line)))
		}
	}
	if !seen.known(knownVars["agi_request"]) {
		return env, &ProtocolError{Reason: "agi env: agi_request missing"}
	}
	if !seen.known(knownVars["agi_channel"]) {
		return env, &ProtocolError{Reason: "agi env: agi_channel missing"}
	}
	for i := range env.Args {
		if !seen.arg(i + 1) {
			return env, &ProtocolError{Reason: fmt.Sprintf("agi env: agi_arg_%d missing before agi_arg_%d", i+1, len(env.Args))}
		}
	}
	env.Script, env.Params = splitScript(env.NetworkScript)
	return env, nil
}

// knownVars numbers the variables setup_env sends, for seenVars.
var knownVars = func() map[string]int {
	m := map[string]int{}
	for i, name := range []string{"agi_network", "agi_network_script", "agi_request", "agi_channel",
		"agi_language", "agi_type", "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname",
		"agi_callingpres", "agi_callingani2", "agi_callington", "agi_callingtns", "agi_dnid", "agi_rdnis",
		"agi_context", "agi_extension", "agi_priority", "agi_enhanced", "agi_accountcode", "agi_threadid"} {
		m[name] = i
	}
	return m
}()

// seenVars is the set of variable names read so far, without a map per
// session: a bit for each of knownVars and for each agi_arg_N written as
// Asterisk writes N; any other name is looked for among the lines read.
type seenVars struct {
	vars uint64
	args [2]uint64 // agi_arg_1 .. agi_arg_127
}

// add records name, read after the lines in read, and reports whether it
// is new.
func (s *seenVars) add(name string, read []Var) bool {
	bits, bit := s.slot(name)
	if bits == nil {
		for _, v := range read {
			if v.Name == name {
				return false
			}
		}
		return true
	}
	if *bits&bit != 0 {
		return false
	}
	*bits |= bit
	return true
}

// slot returns the bit that stands for name, or nil for a name without
// one.
func (s *seenVars) slot(name string) (*uint64, uint64) {
	if i, ok := knownVars[name]; ok {
		return &s.vars, 1 << i
	}
	n, ok := strings.CutPrefix(name, "agi_arg_")
	if !ok {
		return nil, 0
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 || i >= maxArgs || strconv.Itoa(i) != n {
		return nil, 0
	}
	return &s.args[i/64], 1 << (i % 64)
}

func (s *seenVars) known(i int) bool { return s.vars&(1<<i) != 0 }

func (s *seenVars) arg(i int) bool { return i >= 1 && i < maxArgs && s.args[i/64]&(1<<(i%64)) != 0 }

func (e *Env) set(name, value string) error {
	var err error
	switch name {
	case "agi_network":
		e.Network = value == "yes"
	case "agi_network_script":
		e.NetworkScript = value
	case "agi_request":
		e.Request = value
	case "agi_channel":
		e.Channel = value
	case "agi_language":
		e.Language = value
	case "agi_type":
		e.Type = value
	case "agi_uniqueid":
		e.UniqueID = value
	case "agi_version":
		e.Version = value
	case "agi_callerid":
		e.CallerID = value
	case "agi_calleridname":
		e.CallerIDName = value
	case "agi_callingpres":
		e.CallingPres, err = strconv.Atoi(value)
	case "agi_callingani2":
		e.CallingANI2, err = strconv.Atoi(value)
	case "agi_callington":
		e.CallingTON, err = strconv.Atoi(value)
	case "agi_callingtns":
		e.CallingTNS, err = strconv.Atoi(value)
	case "agi_dnid":
		e.DNID = value
	case "agi_rdnis":
		e.RDNIS = value
	case "agi_context":
		e.Context = value
	case "agi_extension":
		e.Extension = value
	case "agi_priority":
		e.Priority, err = strconv.Atoi(value)
	case "agi_enhanced":
		switch value {
		case "0.0":
			e.Enhanced = false
		case "1.0":
			e.Enhanced = true
		default:
			return fmt.Errorf("agi_enhanced is neither 0.0 nor 1.0")
		}
	case "agi_accountcode":
		e.AccountCode = value
	case "agi_threadid":
		e.ThreadID, err = strconv.ParseInt(value, 10, 64)
	default:
		if n, ok := strings.CutPrefix(name, "agi_arg_"); ok {
			return e.setArg(n, value)
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not an integer", name)
	}
	return nil
}

func (e *Env) setArg(n, value string) error {
	i, err := strconv.Atoi(n)
	// AGI() accepts at most maxArgs-1 words including the URL.
	if err != nil || i < 1 || i >= maxArgs {
		return fmt.Errorf("bad argument number %q", n)
	}
	for len(e.Args) < i {
		e.Args = append(e.Args, "")
	}
	e.Args[i-1] = value
	return nil
}

// splitScript turns agi_network_script ("ani?x=y", "/ani") into the route
// name and its query parameters.
func splitScript(s string) (string, url.Values) {
	path, query, _ := strings.Cut(s, "?")
	path = strings.TrimLeft(path, "/")
	params := url.Values{}
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		params.Add(unescape(k), unescape(v))
	}
	return path, params
}

// unescape decodes %XX sequences and keeps everything else, including '+'
// and malformed escapes, as written in the dialplan.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
