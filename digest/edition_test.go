package digest

import (
	"strings"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	page, err := ParseText(Sample())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Build("2026-11-27", page)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.ID, "2026-11-27"; got != want {
		t.Errorf("ID: got %q, want %q", got, want)
	}
	if got, want := e.Title(), page.Lead.Title; got != want {
		t.Errorf("Title: got %q, want %q", got, want)
	}
	if !strings.HasPrefix(e.Summary(), "Russian President Vladimir Putin") {
		t.Errorf("Summary: got %q", e.Summary())
	}
	if len(e.Hash) != 64 {
		t.Errorf("Hash: got %q, want 64 hex digits", e.Hash)
	}

	again, _ := ParseText(Sample())
	e2, _ := Build("2026-11-27", again)
	if e2.Hash != e.Hash {
		t.Error("the same content gave another hash")
	}
	again.Headlines[0].Title += "!"
	e3, _ := Build("2026-11-27", again)
	if e3.Hash == e.Hash {
		t.Error("new content kept the hash")
	}
}

func TestBuildWithoutLead(t *testing.T) {
	e, err := Build("2026-01-02", FrontPage{Headlines: []Headline{{Title: "Only"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Title(), "Headlines for 2026-01-02"; got != want {
		t.Errorf("Title: got %q, want %q", got, want)
	}
	if e.Summary() != "" {
		t.Errorf("Summary: got %q, want empty", e.Summary())
	}
}

func TestBuildRejects(t *testing.T) {
	if _, err := Build("2026-13-01", FrontPage{Headlines: []Headline{{Title: "x"}}}); err == nil {
		t.Error("a bad day was accepted")
	}
	if _, err := Build("2026-11-27", FrontPage{}); err == nil || !IsSourceError(err) {
		t.Errorf("an empty page: got %v, want a SourceError", err)
	}
}

func TestHashIgnoresNilVersusEmpty(t *testing.T) {
	a := FrontPage{Headlines: []Headline{{Title: "x"}}, Lead: &Lead{Title: "t"}}
	b := FrontPage{Headlines: []Headline{{Title: "x"}}, Lead: &Lead{Title: "t", Blocks: []Block{}}}
	if a.Hash() != b.Hash() {
		t.Error("nil and empty blocks hash differently")
	}
}

func TestParseDay(t *testing.T) {
	for _, s := range []string{"2026-11-27", "2024-02-29"} {
		if _, err := ParseDay(s); err != nil {
			t.Errorf("ParseDay(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "2026-11-31", "2026-1-2", "27-11-2026", "2026-11-27T00:00:00Z", "../etc"} {
		if _, err := ParseDay(s); err == nil {
			t.Errorf("ParseDay(%q) accepted", s)
		}
	}
}

func TestDayFollowsZone(t *testing.T) {
	instant := time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	if got, want := Day(instant, time.UTC), "2026-11-27"; got != want {
		t.Errorf("UTC: got %s, want %s", got, want)
	}
	if got, want := Day(instant, tokyo), "2026-11-28"; got != want {
		t.Errorf("Tokyo: got %s, want %s", got, want)
	}
}

func TestTagURI(t *testing.T) {
	if got, want := TagURI("News.Example.com", "2026-11-27"), "tag:news.example.com,2026-11-27:edition"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
