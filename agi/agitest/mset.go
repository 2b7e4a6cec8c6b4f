package agitest

// mset is MSet() (main/pbx_variables.c, pbx_builtin_setvar_multiple): the
// data splits into name=value pairs on ',' as AST_STANDARD_APP_ARGS does
// it, each pair on its first '=' as AST_NONSTANDARD_APP_ARGS(pair, x, '=')
// does with two fields; a pair without '=' is ignored.
func (c *channel) mset(data string) {
	if data == "" {
		return
	}
	for _, pair := range separateArgs(data, ',', true, 99) {
		nv := separateArgs(pair, '=', true, 2)
		if len(nv) == 2 {
			c.setVar(nv[0], nv[1])
		}
	}
}

// separateArgs is main/app.c's __ast_app_separate_args: delim splits the
// arguments outside parentheses, brackets and double quotes; with
// removeChars the quotes are dropped and a backslash makes the next
// character literal (and is dropped). At most arraylen arguments come out:
// the last is the rest of buf, as it is, without that processing.
func separateArgs(buf string, delim byte, removeChars bool, arraylen int) []string {
	if arraylen < 1 {
		return nil
	}
	var out []string
	b := []byte(buf)
	i := 0
	wasDelim := -1
	paren, bracket, quote := 0, 0, false
	for i < len(b) && len(out) < arraylen-1 {
		var cur []byte
		for i < len(b) {
			ch := b[i]
			switch {
			case ch == '(':
				paren++
			case ch == ')':
				if paren > 0 {
					paren--
				}
			case ch == '[':
				bracket++
			case ch == ']':
				if bracket > 0 {
					bracket--
				}
			case ch == '"' && delim != '"':
				quote = !quote
				if removeChars {
					i++
					continue
				}
			case ch == '\\':
				if removeChars {
					// The backslash goes; the next character is kept as it is.
					i++
					if i < len(b) {
						cur = append(cur, b[i])
						i++
					}
					continue
				}
				cur = append(cur, ch)
				i++
				if i < len(b) {
					cur = append(cur, b[i])
					i++
				}
				continue
			case ch == delim && paren == 0 && !quote && bracket == 0:
				wasDelim = i
				i++
				out = append(out, string(cur))
				cur = nil
				goto next
			}
			cur = append(cur, ch)
			i++
		}
		out = append(out, string(cur))
	next:
	}
	// If the original string ended with the delimiter, there is one more
	// (empty) argument.
	if i < len(b) || (i > 0 && i-1 == wasDelim) {
		out = append(out, string(b[i:]))
	}
	return out
}
