package mysql_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	gomysql "github.com/go-sql-driver/mysql"
)

// deadAddr returns an address on 127.0.0.1 that refuses connections.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A DSN listing several servers: the store connects to the first that
// answers, here the second of the list.
func TestDSNListSkipsADeadServer(t *testing.T) {
	cfg, err := gomysql.ParseDSN(dbtest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	live := cfg.Addr
	cfg.Addr = deadAddr(t)
	dsn := strings.Replace(cfg.FormatDSN(), "tcp("+cfg.Addr+")", "tcp("+cfg.Addr+","+live+")", 1)
	db, err := mysql.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	defer db.Close()
	var port int
	if err := db.RawDB().QueryRowContext(t.Context(), "SELECT @@port").Scan(&port); err != nil {
		t.Fatal(err)
	}
	if _, p, _ := net.SplitHostPort(live); p != strconv.Itoa(port) {
		t.Errorf("connected to port %d, want the live server %s", port, live)
	}
}

func TestDSNListAllDead(t *testing.T) {
	dsn := "u:p@tcp(" + deadAddr(t) + "," + deadAddr(t) + ")/callbackd"
	if db, err := mysql.Open(t.Context(), dsn); err == nil {
		db.Close()
		t.Fatal("opened a DSN whose servers are all down")
	}
}
