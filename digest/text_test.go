package digest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestParseTextGolden reads every testdata/*.txt and compares the result
// with the .golden.json beside it.
func TestParseTextGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs in testdata: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			page, err := ParseText(f)
			if err != nil {
				t.Fatalf("ParseText: %v", err)
			}
			got, err := json.MarshalIndent(page, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(in, ".txt") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./digest -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ParseText(%s) differs from %s:\n%s", in, golden, got)
			}
		})
	}
}

// TestParseTextSample checks the figures the sample must give, independently
// of the golden file.
func TestParseTextSample(t *testing.T) {
	page, err := ParseText(Sample())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(page.Headlines), 15; got != want {
		t.Errorf("headlines: got %d, want %d", got, want)
	}
	truncated := 0
	for _, h := range page.Headlines {
		if h.Truncated {
			truncated++
			if !strings.HasSuffix(h.Title, "…") || strings.HasSuffix(h.Title, "……") || strings.Contains(h.Title, "...") {
				t.Errorf("truncated headline %q should end in one …", h.Title)
			}
		}
	}
	if got, want := truncated, 2; got != want {
		t.Errorf("truncated headlines: got %d, want %d", got, want)
	}
	l := page.Lead
	if l == nil {
		t.Fatal("no lead")
	}
	if got, want := l.Section, "Tipsheet"; got != want {
		t.Errorf("section: got %q, want %q", got, want)
	}
	if got, want := l.Title, "Unholy Alliance Seeks Closer Cooperation With Russia-North Korea Mutual Defense Pact"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
	if got, want := l.Credit, "Korean Central News Agency/Korea News Service via AP"; got != want {
		t.Errorf("credit: got %q, want %q", got, want)
	}
	paragraphs := 0
	for _, b := range l.Blocks {
		if b.Type != Paragraph {
			t.Errorf("unexpected %s block %q", b.Type, b.Text)
		}
		paragraphs++
		if strings.EqualFold(b.Text, "Advertisement") || strings.HasPrefix(b.Text, "Recommended") {
			t.Errorf("ad or furniture kept: %q", b.Text)
		}
		if strings.HasSuffix(b.Text, "\u00a0") || strings.HasSuffix(b.Text, " ") {
			t.Errorf("paragraph not trimmed: %q", b.Text)
		}
	}
	if got, want := paragraphs, 13; got != want {
		t.Errorf("paragraphs: got %d, want %d", got, want)
	}
}

func TestParseTextRules(t *testing.T) {
	h := func(title string) Headline { return Headline{Title: title} }
	p := func(text string) Block { return Block{Type: Paragraph, Text: text} }
	hd := func(text string) Block { return Block{Type: Heading, Text: text} }
	long := "This paragraph is long enough to be a paragraph even though it has no terminal punctuation at the end"
	tests := []struct {
		name string
		in   string
		want FrontPage
	}{
		{
			name: "headlines only",
			in:   "One headline\nAnother headline\n",
			want: FrontPage{Headlines: []Headline{h("One headline"), h("Another headline")}},
		},
		{
			name: "single short line is a headline, not a section",
			in:   "Markets\n",
			want: FrontPage{Headlines: []Headline{h("Markets")}},
		},
		{
			name: "last line of four words is a headline",
			in:   "First story here\nFour words are here\n",
			want: FrontPage{Headlines: []Headline{h("First story here"), h("Four words are here")}},
		},
		{
			name: "last short line with punctuation is a headline",
			in:   "First story\nRates rise.\n",
			want: FrontPage{Headlines: []Headline{h("First story"), h("Rates rise.")}},
		},
		{
			name: "without a lead a short last line stays a headline",
			in:   "First story\nSecond story\nWorld\n",
			want: FrontPage{Headlines: []Headline{h("First story"), h("Second story"), h("World")}},
		},
		{
			name: "truncated with three dots and with an ellipsis",
			in:   "Cut short here...\nAlso cut …\nNot cut\n",
			want: FrontPage{Headlines: []Headline{
				{Title: "Cut short here…", Truncated: true},
				{Title: "Also cut…", Truncated: true},
				h("Not cut"),
			}},
		},
		{
			name: "CRLF, CR, BOM, spaces and no-break spaces",
			in:   "\uFEFF  One\u00a0\r\nTwo \rSports\r\n\r\nThe title\r\n\u00a0A paragraph.\u00a0\r\n",
			want: FrontPage{Headlines: []Headline{h("One"), h("Two")}, Lead: &Lead{
				Section: "Sports", Title: "The title", Blocks: []Block{p("A paragraph.")},
			}},
		},
		{
			name: "leading blank lines and ad markers anywhere",
			in:   "\n\nADVERTISEMENT\nOne\nsponsored content\nTwo is a longer headline\n\nSkip Advertisement\nTitle\n\nStory continues below advertisement\nBody.\nContinue reading below\n",
			want: FrontPage{Headlines: []Headline{h("One"), h("Two is a longer headline")}, Lead: &Lead{
				Title: "Title", Blocks: []Block{p("Body.")},
			}},
		},
		{
			name: "credit needs no punctuation, 120 characters at most and more lines after it",
			in:   "One\nTwo\nNews\n\nTitle\nPhoto: Someone\nText.\n",
			want: FrontPage{Headlines: []Headline{h("One"), h("Two")}, Lead: &Lead{Section: "News",
				Title: "Title", Credit: "Photo: Someone", Blocks: []Block{p("Text.")},
			}},
		},
		{
			name: "line after title ending in punctuation is not a credit",
			in:   "One\n\nTitle\nFirst sentence.\nSecond sentence.\n",
			want: FrontPage{Headlines: []Headline{h("One")}, Lead: &Lead{
				Title: "Title", Blocks: []Block{p("First sentence."), p("Second sentence.")},
			}},
		},
		{
			name: "last line is never a credit",
			in:   "One\n\nTitle\nTrailing furniture\n",
			want: FrontPage{Headlines: []Headline{h("One")}, Lead: &Lead{Title: "Title", Blocks: []Block{}}},
		},
		{
			name: "credit longer than 120 characters is body",
			in:   "One\n\nTitle\n" + strings.Repeat("x", 121) + "\nEnd.\n",
			want: FrontPage{Headlines: []Headline{h("One")}, Lead: &Lead{
				Title: "Title", Blocks: []Block{p(strings.Repeat("x", 121)), p("End.")},
			}},
		},
		{
			name: "headings, long unpunctuated paragraphs and trailing furniture",
			in:   "One\n\nTitle\nCredit line\nIntro.\nA Heading\n" + long + "\nLast words.\nRecommended\nTrending on Site\n",
			want: FrontPage{Headlines: []Headline{h("One")}, Lead: &Lead{
				Title: "Title", Credit: "Credit line",
				Blocks: []Block{p("Intro."), hd("A Heading"), p(long), p("Last words.")},
			}},
		},
		{
			name: "every closing mark counts as terminal punctuation",
			in: "One\n\nTitle\nCredit\n" +
				"a!\nb?\nc:\nd;\ne\"\nf”\ng'\nh’\ni)\nj…\n",
			want: FrontPage{Headlines: []Headline{h("One")}, Lead: &Lead{
				Title: "Title", Credit: "Credit",
				Blocks: []Block{p("a!"), p("b?"), p("c:"), p("d;"), p("e\""), p("f”"), p("g'"), p("h’"), p("i)"), p("j…")},
			}},
		},
		{
			name: "control characters are removed and tabs become spaces",
			in:   "One\x00\x1b[31m\tred\n",
			want: FrontPage{Headlines: []Headline{h("One[31m red")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseText(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseText: %v", err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("ParseText(%q):\n got %s\nwant %s", tt.in, gotJSON, wantJSON)
			}
		})
	}
}

func TestParseTextBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // in the error message
	}{
		{"empty", nil, "empty"},
		{"blank only", []byte(" \n\u00a0\r\n\t\n"), "empty"},
		{"only ad markers", []byte("Advertisement\nSponsored\n"), "empty"},
		{"BOM only", []byte("\uFEFF"), "empty"},
		{"latin-1", []byte("Caf\xe9 society\n"), "not UTF-8 text (first bad byte at offset 3)"},
		{"too large", bytes.Repeat([]byte("a headline\n"), MaxSourceSize/11+1), "larger than 5 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseText(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatal("ParseText: no error")
			}
			if !IsSourceError(err) {
				t.Errorf("error %v is not a SourceError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestParseTextUnreadable(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := ParseText(iotest.TimeoutReader(iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || !IsSourceError(err) {
		t.Fatalf("got %v, want a SourceError wrapping %v", err, boom)
	}
}

func TestParseTextExactlyMaxSize(t *testing.T) {
	in := bytes.Repeat([]byte("x"), MaxSourceSize)
	if _, err := ParseText(bytes.NewReader(in)); err != nil {
		t.Fatalf("a source of exactly %d bytes: %v", MaxSourceSize, err)
	}
}

// TestParseTextLimits: each reading rule's limit, on both sides — a
// section label of exactly sectionMaxWords words (one more is a
// headline), after a block of just two lines; a credit of exactly
// creditMaxRunes characters (one more is body); a heading of exactly
// headingMaxRunes characters (one more is a paragraph). Characters are
// counted, not bytes.
func TestParseTextLimits(t *testing.T) {
	words := func(n int) string { return strings.TrimSpace(strings.Repeat("Word ", n)) }
	runes := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name, in string
		want     FrontPage
	}{
		{
			name: "a label of the most words, after one headline",
			in:   "The one headline\n" + words(sectionMaxWords) + "\n\nTitle\nBody.\n",
			want: FrontPage{Headlines: []Headline{{Title: "The one headline"}}, Lead: &Lead{
				Section: words(sectionMaxWords), Title: "Title", Blocks: []Block{{Type: Paragraph, Text: "Body."}}}},
		},
		{
			name: "one word more is a headline",
			in:   "The one headline\n" + words(sectionMaxWords+1) + "\n\nTitle\nBody.\n",
			want: FrontPage{Headlines: []Headline{{Title: "The one headline"}, {Title: words(sectionMaxWords + 1)}}, Lead: &Lead{
				Title: "Title", Blocks: []Block{{Type: Paragraph, Text: "Body."}}}},
		},
		{
			name: "a credit of the most characters",
			in:   "One\n\nTitle\n" + runes(creditMaxRunes) + "\nBody.\n",
			want: FrontPage{Headlines: []Headline{{Title: "One"}}, Lead: &Lead{
				Title: "Title", Credit: runes(creditMaxRunes), Blocks: []Block{{Type: Paragraph, Text: "Body."}}}},
		},
		{
			name: "one character more is body",
			in:   "One\n\nTitle\n" + runes(creditMaxRunes+1) + "\nBody.\n",
			want: FrontPage{Headlines: []Headline{{Title: "One"}}, Lead: &Lead{
				Title: "Title", Blocks: []Block{{Type: Paragraph, Text: runes(creditMaxRunes + 1)}, {Type: Paragraph, Text: "Body."}}}},
		},
		{
			name: "a heading of the most characters, and one character more",
			in:   "One\n\nTitle\nCredit\n" + runes(headingMaxRunes) + "\n" + runes(headingMaxRunes+1) + "\nBody.\n",
			want: FrontPage{Headlines: []Headline{{Title: "One"}}, Lead: &Lead{
				Title: "Title", Credit: "Credit", Blocks: []Block{{Type: Heading, Text: runes(headingMaxRunes)},
					{Type: Paragraph, Text: runes(headingMaxRunes + 1)}, {Type: Paragraph, Text: "Body."}}}},
		},
	}
	for _, tt := range tests {
		got, err := ParseText(strings.NewReader(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(tt.want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, gotJSON, wantJSON)
		}
	}
}
