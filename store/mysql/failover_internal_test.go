package mysql

import (
	"slices"
	"testing"
)

func TestSplitAddrs(t *testing.T) {
	for _, tc := range []struct {
		in, dsn string
		addrs   []string
	}{
		{"u:p@tcp(db1:3306)/cb", "u:p@tcp(db1:3306)/cb", nil},
		{"u:p@tcp(db1:3306,db2:3307, db3)/cb?timeout=1s", "u:p@tcp(db1:3306)/cb?timeout=1s", []string{"db1:3306", "db2:3307", "db3:3306"}},
		{"u:p@w,rd@tcp(db1,db2)/cb", "u:p@w,rd@tcp(db1:3306)/cb", []string{"db1:3306", "db2:3306"}},
		{"u:p@unix(/run/mysqld.sock)/cb", "u:p@unix(/run/mysqld.sock)/cb", nil},
		{"no dsn", "no dsn", nil},
	} {
		dsn, addrs := splitAddrs(tc.in)
		if dsn != tc.dsn || !slices.Equal(addrs, tc.addrs) {
			t.Errorf("splitAddrs(%q) = %q, %q; want %q, %q", tc.in, dsn, addrs, tc.dsn, tc.addrs)
		}
	}
}
