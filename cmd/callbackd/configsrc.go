package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Where a configuration value comes from, as `callbackd config` prints it.
const (
	srcDefault = "default"
	srcFile    = "file"
	srcEnv     = "env"
	srcFlag    = "flag"
)

// knownKeys returns every configuration key ("callback.max_attempts") with
// its field's type, and every section ("callback").
func knownKeys() (leaves map[string]reflect.Type, sections map[string]bool) {
	c := DefaultConfig()
	leaves, sections = map[string]reflect.Type{}, map[string]bool{}
	walkConfig(reflect.ValueOf(&c).Elem(), "", func(key string, f reflect.Value) {
		leaves[key] = f.Type()
		parts := strings.Split(key, ".")
		for i := 1; i < len(parts); i++ {
			sections[strings.Join(parts[:i], ".")] = true
		}
	})
	return leaves, sections
}

// checkConfigFile reports, in the operator's words, the first mistakes of
// a configuration file that the YAML decoder would report in Go's: an
// unknown key (with the nearest known one), a value of the wrong kind, a
// duration written without its unit.
func checkConfigFile(path string, b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	leaves, sections := knownKeys()
	var errs []error
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			what := "the top level"
			if prefix != "" {
				what = prefix
			}
			errs = append(errs, fmt.Errorf("config %s line %d: %s is a section: want key: value lines under it", path, n.Line, what))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			switch {
			case sections[key]:
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					continue // an empty section
				}
				walk(v, key)
			case leaves[key] != nil:
				if err := checkValue(leaves[key], v); err != nil {
					errs = append(errs, fmt.Errorf("config %s line %d: %s: %w", path, v.Line, key, err))
				}
			default:
				msg := fmt.Sprintf("config %s line %d: unknown key %s", path, k.Line, key)
				if s := suggestKey(key, leaves, sections); s != "" {
					msg += "; did you mean " + s + "?"
				}
				errs = append(errs, errors.New(msg))
			}
		}
	}
	walk(doc.Content[0], "")
	return errors.Join(errs...)
}

// checkValue says what is wrong with a YAML value for a field of type t.
func checkValue(t reflect.Type, v *yaml.Node) error {
	if v.Kind != yaml.ScalarNode {
		switch t.Kind() {
		case reflect.Slice, reflect.Map, reflect.Struct:
			return nil // the decoder checks lists and maps
		}
		return fmt.Errorf("want %s, not a list or section", want(t))
	}
	if v.Tag == "!!null" {
		return nil
	}
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		if _, err := time.ParseDuration(v.Value); err != nil {
			if _, nerr := strconv.Atoi(v.Value); nerr == nil {
				return fmt.Errorf("%q has no unit: write %ss for seconds or %sm for minutes", v.Value, v.Value, v.Value)
			}
			return fmt.Errorf("%q is not %s", v.Value, want(t))
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if v.Tag != "!!int" {
			return fmt.Errorf("%q is not %s", v.Value, want(t))
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if v.Tag != "!!int" && v.Tag != "!!float" {
			return fmt.Errorf("%q is not %s", v.Value, want(t))
		}
	case t.Kind() == reflect.Bool:
		if v.Tag != "!!bool" {
			return fmt.Errorf("%q is not %s", v.Value, want(t))
		}
	}
	return nil
}

func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "a duration (such as 30s, 5m or 1h)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	}
	return "text"
}

// envValueError says what a CALLBACKD_* variable's value should have been.
func envValueError(name, v string, f reflect.Value) error {
	return fmt.Errorf("%s: %q is not %s", name, v, want(f.Type()))
}

// suggestKey returns the known key nearest to a misspelt one: in the same
// section first (by its last part), then anywhere.
func suggestKey(key string, leaves map[string]reflect.Type, sections map[string]bool) string {
	section, name := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		section, name = key[:i], key[i+1:]
	}
	best, bestD := "", 3
	names := make([]string, 0, len(leaves)+len(sections))
	for k := range leaves {
		names = append(names, k)
	}
	for k := range sections {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ks, kn := "", k
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			ks, kn = k[:i], k[i+1:]
		}
		if ks == section {
			if d := editDistance(name, kn); d < bestD {
				best, bestD = kn, d
			}
		}
	}
	if best != "" {
		return best
	}
	bestD = 3
	for _, k := range names {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		// The right name in the wrong section: "max_attempts" at the top.
		for _, k := range names {
			if strings.HasSuffix(k, "."+name) {
				return k
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// configFlags are the configuration keys that serve (and config, to show
// their effect) also take as flags.
type configFlags struct {
	fs   *flag.FlagSet
	keys map[string]string // flag name -> key
	vals map[string]*string
}

func addConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, keys: map[string]string{}, vals: map[string]*string{}}
	for _, f := range []struct{ name, key, usage string }{
		{"mysql-dsn", "database.mysql_dsn", "MariaDB/MySQL DSN (database.mysql_dsn)"},
		{"sqlite", "database.sqlite_path", "embedded store file (database.sqlite_path)"},
		{"ari-url", "ari.url", "Asterisk ARI base URL, e.g. http://127.0.0.1:8088 (ari.url)"},
		{"agi-listen", "agi.listen", "FastAGI address; empty turns it off (agi.listen)"},
		{"http-listen", "http.listen", "HTTP address; empty turns it off (http.listen)"},
		{"log-level", "log.level", "debug, info, warn or error (log.level)"},
		{"node", "node", "this node's name among nodes sharing one database (node)"},
	} {
		cf.keys[f.name] = f.key
		cf.vals[f.name] = fs.String(f.name, "", f.usage)
	}
	return cf
}

// apply sets the keys whose flags were given and returns them with the
// flag that set each.
func (cf *configFlags) apply(c *Config) (map[string]string, error) {
	set := map[string]string{}
	var err error
	cf.fs.Visit(func(f *flag.Flag) {
		key, ok := cf.keys[f.Name]
		if !ok || err != nil {
			return
		}
		walkConfig(reflect.ValueOf(c).Elem(), "", func(k string, fv reflect.Value) {
			if k == key && err == nil {
				if serr := setField(fv, *cf.vals[f.Name]); serr != nil {
					err = usageError{fmt.Sprintf("-%s: %q is not %s", f.Name, *cf.vals[f.Name], want(fv.Type()))}
				}
				set[key] = "-" + f.Name
			}
		})
	})
	return set, err
}

// eachYAMLKey calls fn with the dotted key ("callback.max_attempts"), the
// key node and the value node of every setting in a YAML document: an
// entry whose value is a mapping is a section and is descended into,
// unless isLeaf (when not nil) says its key is a setting.
func eachYAMLKey(doc *yaml.Node, isLeaf func(key string) bool, fn func(key string, k, v *yaml.Node)) {
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			if v.Kind == yaml.MappingNode && (isLeaf == nil || !isLeaf(key)) {
				walk(v, key)
				continue
			}
			fn(key, k, v)
		}
	}
	if len(doc.Content) > 0 {
		walk(doc.Content[0], "")
	}
}

// configSources says where each key's value comes from: a flag, then the
// environment, then the file (with its line), else the default.
func configSources(path string, environ []string, flagged map[string]string) (map[string]string, error) {
	out := map[string]string{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
		eachYAMLKey(&doc, nil, func(key string, k, _ *yaml.Node) {
			out[key] = fmt.Sprintf("%s %s:%d", srcFile, path, k.Line)
		})
	}
	leaves, _ := knownKeys()
	set := map[string]bool{}
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			set[k] = true
		}
	}
	for key := range leaves {
		if set[EnvName(key)] {
			out[key] = srcEnv + " " + EnvName(key)
		}
	}
	for key, f := range flagged {
		out[key] = srcFlag + " " + f
	}
	return out, nil
}

// configPath is the file a command reads: -config, else $CALLBACKD_CONFIG.
func (e *env) configPath(path string) string {
	if path != "" {
		return path
	}
	for _, kv := range e.environ {
		if v, ok := strings.CutPrefix(kv, "CALLBACKD_CONFIG="); ok {
			path = v
		}
	}
	return path
}

// unknownEnv names the CALLBACKD_* variables that set no key (a typo is
// otherwise silently ignored), with the nearest known variable.
// CALLBACKD_CONFIG and the tests' CALLBACKD_TEST_* are not keys.
func unknownEnv(environ []string) []string {
	leaves, _ := knownKeys()
	vars := map[string]bool{}
	for k := range leaves {
		vars[EnvName(k)] = true
	}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "CALLBACKD_") || vars[k] || k == "CALLBACKD_CONFIG" || strings.HasPrefix(k, "CALLBACKD_TEST_") {
			continue
		}
		msg := "unknown variable " + k
		best, bestD := "", 4
		for v := range vars {
			if d := editDistance(k, v); d < bestD || d == bestD && v < best {
				best, bestD = v, d
			}
		}
		if best != "" {
			msg += "; did you mean " + best + "?"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}
