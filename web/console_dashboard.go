package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

// chartDays is how many days the dashboard's chart covers.
const chartDays = 90

type statusCount struct {
	Status digest.SubscriberStatus
	N      int64
}

type dashboardView struct {
	Counts   []statusCount
	Total    int64
	Chart    template.HTML
	Editions []editionRow
}

func (s *Server) showDashboard(w http.ResponseWriter, r *http.Request, sess session) {
	ctx := r.Context()
	counts, err := s.subs.Counts(ctx)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	v := dashboardView{}
	for _, st := range digest.Statuses {
		v.Counts = append(v.Counts, statusCount{st, counts[st]})
		v.Total += counts[st]
	}
	today := s.console.Today()
	history, err := s.subs.ActiveHistory(ctx, today, chartDays)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	// Today's point is the count now, not the last sample.
	history[len(history)-1] = subscription.DayCount{Day: today, Active: counts[digest.Active], Known: true}
	v.Chart = activeChart(history)
	if v.Editions, err = s.editionRows(r, 7); err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	p := s.consolePage(sess, "dashboard", "Dashboard")
	p.Data = v
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleDashboard, p)
}

// activeChart draws the active count per day as an SVG line chart; days
// without a sample are gaps. Only numbers and days (YYYY-MM-DD) are
// written into it, so it needs no escaping.
func activeChart(days []subscription.DayCount) template.HTML {
	const w, h, left, right, top, bottom = 720.0, 240.0, 56.0, 12.0, 12.0, 28.0
	var peak int64
	known := 0
	for _, d := range days {
		if d.Known {
			peak = max(peak, d.Active)
			known++
		}
	}
	scale := niceCeil(peak)
	x := func(i int) float64 { return left + (w-left-right)*float64(i)/float64(max(len(days)-1, 1)) }
	y := func(n int64) float64 { return top + (h-top-bottom)*(1-float64(n)/float64(scale)) }
	var b strings.Builder
	first, last := days[0], days[len(days)-1]
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title chart-desc">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">Active subscribers per day</title>`)
	fmt.Fprintf(&b, `<desc id="chart-desc">From %s to %s: %d today, at most %d; %d of %d days have a count.</desc>`,
		first.Day, last.Day, last.Active, peak, known, len(days))
	for _, n := range []int64{0, scale / 2, scale} {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, y(n), w-right, y(n))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%d</text>`, left-6, y(n)+4, n)
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, h-bottom, w-right, h-bottom)
	for _, i := range []int{0, len(days) / 2, len(days) - 1} {
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		} else if i == len(days)-1 {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x(i), h-8, anchor, days[i].Day)
	}
	// One polyline per run of known days.
	var run []string
	flush := func() {
		if len(run) > 1 {
			fmt.Fprintf(&b, `<polyline class="line" points="%s"/>`, strings.Join(run, " "))
		}
		run = run[:0]
	}
	for i, d := range days {
		if !d.Known {
			flush()
			continue
		}
		run = append(run, fmt.Sprintf("%.1f,%.1f", x(i), y(d.Active)))
		if i == len(days)-1 || !days[i+1].Known && (i == 0 || !days[i-1].Known) {
			fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3"/>`, x(i), y(d.Active))
		}
	}
	flush()
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 10).
func niceCeil(n int64) int64 {
	for p := int64(10); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if n <= m*p {
				return m * p
			}
		}
	}
}
