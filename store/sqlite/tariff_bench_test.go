package sqlite_test

import (
	"testing"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/storetest"
)

func BenchmarkTariffList(b *testing.B) {
	storetest.BenchTariffList(b, func(b *testing.B) admin.Store { return dbtest.SQLite(b) })
}
