package console

import (
	"fmt"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The dashboard's figures of the callback requests: today's requests by
// status and result, and a bar chart of the first legs of the last 24
// hours, drawn on the server as inline SVG with the same figures as a
// table beside it.

// resultRow is one line of "callbacks today by result".
type resultRow struct {
	Status callback.Status
	Result callback.Result
	Count  int64
}

// resultRows lays the counts out as the README's table of statuses and
// results: the unfinished statuses, then each result of Finished, every
// one shown (0 when none), then whatever else the rows hold.
func resultRows(counts []admin.ResultCount) (rows []resultRow, total int64) {
	seen := map[[2]string]int64{}
	for _, c := range counts {
		seen[[2]string{string(c.Status), string(c.Result)}] += c.Count
		total += c.Count
	}
	take := func(st callback.Status, res callback.Result) {
		k := [2]string{string(st), string(res)}
		rows = append(rows, resultRow{Status: st, Result: res, Count: seen[k]})
		delete(seen, k)
	}
	for _, st := range callback.Statuses {
		if st != callback.StatusFinished {
			take(st, callback.ResultNone)
		}
	}
	for _, res := range callback.Results {
		take(callback.StatusFinished, res)
	}
	for _, c := range counts {
		if _, ok := seen[[2]string{string(c.Status), string(c.Result)}]; ok {
			take(c.Status, c.Result)
		}
	}
	return rows, total
}

// Chart geometry, in SVG user units.
const (
	chartLeft   = 44  // room for the y labels
	chartBottom = 22  // room for the x labels
	chartTop    = 10  // room for the top label
	chartPlot   = 160 // height of the plot area
	chartSlot   = 28  // width of an hour
	chartBar    = 11  // width of a bar
)

type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

type label struct {
	X, Y int
	Text string
}

// chart is the SVG of the last 24 hours and the table of its figures.
type chart struct {
	W, H     int
	Bars     []bar
	YLabels  []label
	XLabels  []label
	Grid     []int // y of the grid lines
	AxisY    int
	Hours    []admin.HourCount
	Attempts int64
	Answered int64
	From, To string
}

func newChart(hours []admin.HourCount) chart {
	c := chart{W: chartLeft + chartSlot*len(hours) + 4, H: chartTop + chartPlot + chartBottom, Hours: hours, AxisY: chartTop + chartPlot}
	top := int64(1)
	for _, h := range hours {
		top = max(top, h.Attempts)
		c.Attempts += h.Attempts
		c.Answered += h.Answered
	}
	// A round top: 1, 2, 5 × 10^n.
	scale := int64(1)
	for i := 1; scale < top; i++ {
		scale = []int64{1, 2, 5}[i%3] * pow10(i/3)
	}
	y := func(v int64) int { return chartTop + chartPlot - int(v*chartPlot/scale) }
	for _, v := range []int64{0, scale / 2, scale} {
		if v == 0 && len(c.YLabels) > 0 {
			continue // scale 1 has no middle
		}
		c.YLabels = append(c.YLabels, label{X: chartLeft - 6, Y: y(v) + 4, Text: fmt.Sprint(v)})
		c.Grid = append(c.Grid, y(v))
	}
	for i, h := range hours {
		x := chartLeft + i*chartSlot
		hh := h.Hour.UTC().Format("15:04")
		c.Bars = append(c.Bars,
			bar{X: x + 3, Y: y(h.Attempts), W: chartBar, H: chartTop + chartPlot - y(h.Attempts), Class: "bar-attempts", Title: fmt.Sprintf("%s: %d dialled", hh, h.Attempts)},
			bar{X: x + 3 + chartBar, Y: y(h.Answered), W: chartBar, H: chartTop + chartPlot - y(h.Answered), Class: "bar-answered", Title: fmt.Sprintf("%s: %d answered", hh, h.Answered)})
		if i%3 == 0 {
			c.XLabels = append(c.XLabels, label{X: x + chartSlot/2, Y: chartTop + chartPlot + 16, Text: h.Hour.UTC().Format("15")})
		}
	}
	if len(hours) > 0 {
		c.From = hours[0].Hour.UTC().Format("2006-01-02 15:04")
		c.To = hours[len(hours)-1].Hour.Add(time.Hour).UTC().Format("2006-01-02 15:04")
	}
	return c
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
