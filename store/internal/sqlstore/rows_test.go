package sqlstore

import (
	"reflect"
	"strings"
	"testing"
)

// columnsOf returns the db tags of the fields whose addresses dest holds,
// in dest's order.
func columnsOf(t *testing.T, v any, dest []any) []string {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	byAddr := map[uintptr]string{}
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			if f.Anonymous {
				walk(rv.Field(i))
				continue
			}
			byAddr[rv.Field(i).Addr().Pointer()] = f.Tag.Get("db")
		}
	}
	walk(rv)
	var cols []string
	for i, d := range dest {
		name, ok := byAddr[uintptr(reflect.ValueOf(d).UnsafePointer())]
		if !ok {
			t.Fatalf("dest[%d] is not the address of a field", i)
		}
		cols = append(cols, name)
	}
	return cols
}

func splitColumns(list, prefix string) []string {
	var cols []string
	for c := range strings.SplitSeq(list, ",") {
		cols = append(cols, prefix+strings.TrimSpace(c))
	}
	return cols
}

// The positional scans of the trigger's hot path fill the fields the
// columns name, in the order the queries name them.
func TestScanOrder(t *testing.T) {
	var r requestRow
	want := splitColumns(requestColumns, "")
	if got := columnsOf(t, &r, r.dest(nil)); !reflect.DeepEqual(got, want) || len(got) != requestRowColumns {
		t.Errorf("requestRow.dest = %v\nwant %v", got, want)
	}
	var c callerRow
	want = append(splitColumns(accountColumns, "a_"), splitColumns(requestColumns, "")...)
	if got := columnsOf(t, &c, c.dest(nil)); !reflect.DeepEqual(got, want) || len(got) != callerRowColumns {
		t.Errorf("callerRow.dest = %v\nwant %v", got, want)
	}
}
