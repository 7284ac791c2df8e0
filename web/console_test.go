package web

import (
	"encoding/xml"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/subscription"
)

func TestActiveChart(t *testing.T) {
	days := []subscription.DayCount{
		{Day: "2026-11-01", Active: 10, Known: true}, {Day: "2026-11-02", Active: 12, Known: true},
		{Day: "2026-11-03"}, {Day: "2026-11-04", Active: 30, Known: true}, {Day: "2026-11-05"},
		{Day: "2026-11-06", Active: 41, Known: true}, {Day: "2026-11-07", Active: 42, Known: true},
	}
	svg := string(activeChart(days))
	var doc struct {
		Title     string `xml:"title"`
		Desc      string `xml:"desc"`
		Polylines []struct {
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
		Circles []struct{} `xml:"circle"`
		Texts   []string   `xml:"text"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("not well-formed SVG: %v\n%s", err, svg)
	}
	// Two runs of known days are lines; the lone day and the last day are dots.
	if len(doc.Polylines) != 2 || len(strings.Fields(doc.Polylines[0].Points)) != 2 || len(strings.Fields(doc.Polylines[1].Points)) != 2 {
		t.Errorf("lines: %+v", doc.Polylines)
	}
	if len(doc.Circles) != 2 {
		t.Errorf("%d dots, want 2 (the lone day, the last day)", len(doc.Circles))
	}
	if !strings.Contains(doc.Desc, "42 today, at most 42") || !strings.Contains(doc.Desc, "5 of 7 days") {
		t.Errorf("desc: %q", doc.Desc)
	}
	// The scale rounds the peak up: 42 → 50.
	if !strings.Contains(strings.Join(doc.Texts, " "), "50") || !strings.Contains(svg, `role="img"`) {
		t.Errorf("axis labels: %v", doc.Texts)
	}
	if got := activeChart([]subscription.DayCount{{Day: "2026-11-01"}}); !strings.Contains(string(got), "0 of 1 days") {
		t.Errorf("a chart without counts: %s", got)
	}
}

func TestNiceCeil(t *testing.T) {
	for n, want := range map[int64]int64{0: 10, 7: 10, 10: 10, 11: 20, 42: 50, 51: 100, 100_001: 200_000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestTestAddresses(t *testing.T) {
	got, err := testAddresses("A@Example.com, b@example.com\nc@example.com;d@example.com")
	if err != nil || strings.Join(got, " ") != "a@example.com b@example.com c@example.com d@example.com" {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "not-an-address", strings.Repeat("x@example.com ", 11)} {
		if _, err := testAddresses(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSafeNext(t *testing.T) {
	u, _ := url.Parse("https://news.example.com/paper/")
	s := New(Deps{}, Config{BaseURL: u})
	for next, want := range map[string]string{
		"/paper/admin/subscribers?status=active": "/paper/admin/subscribers?status=active",
		"":                                       "/paper/admin/",
		"https://evil.example/":                  "/paper/admin/",
		"//evil.example/":                        "/paper/admin/",
		"/paper/admin/\\evil":                    "/paper/admin/",
		"/paper/admin/login":                     "/paper/admin/",
		"/paper/admin/logout":                    "/paper/admin/",
		"/elsewhere":                             "/paper/admin/",
	} {
		if got := s.safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestETAText(t *testing.T) {
	for secs, want := range map[int]string{0: "0 s", 59: "59 s", 60: "1 min 0 s", 185: "3 min 5 s", 7800: "2 h 10 min"} {
		if got := etaText(secs); got != want {
			t.Errorf("etaText(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestRecentPace(t *testing.T) {
	var p recentPace
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	if _, ok := p.add(t0, 100); ok {
		t.Error("a rate from one sample")
	}
	if _, ok := p.add(t0.Add(500*time.Millisecond), 150); ok {
		t.Error("a rate over half a second")
	}
	if r, ok := p.add(t0.Add(2*time.Second), 300); !ok || r != 100 {
		t.Errorf("rate over 2s: %v %v, want 100", r, ok)
	}
	// Samples older than the window go: a pause long ago no longer counts.
	for i := 3; i <= 20; i++ {
		p.add(t0.Add(time.Duration(i)*time.Second), 300+int64(i-2)*10)
	}
	if r, _ := p.add(t0.Add(21*time.Second), 490); r < 9.9 || r > 10.1 || len(p.at) > 7 {
		t.Errorf("rate over the last seconds: %v (%d samples kept), want 10", r, len(p.at))
	}
}
