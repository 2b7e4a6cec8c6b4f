package mysql_test

import (
	"testing"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/storetest"
)

func BenchmarkDashboard(b *testing.B) {
	storetest.BenchDashboard(b, func(b *testing.B) admin.Store { return dbtest.MySQL(b) })
}

func BenchmarkSettleTotals(b *testing.B) {
	storetest.BenchSettleTotals(b, func(b *testing.B) admin.Store { return dbtest.MySQL(b) })
}
