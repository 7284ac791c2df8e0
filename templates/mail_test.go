package templates_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/templates"
)

func confirmationData() templates.ConfirmationData {
	return templates.ConfirmationData{
		SiteTitle: "Daily Brief", SiteURL: "https://news.example.com/", Frequency: "once a day",
		ConfirmURL:     "https://news.example.com/confirm/c0nf1rmt0k3n",
		PreferencesURL: "https://news.example.com/preferences/pr3fs",
	}
}

// TestConfirmationSaysWhatTheReaderSignsUpFor: title, site, how often, and
// the link both as a link and as text.
func TestConfirmationSaysWhatTheReaderSignsUpFor(t *testing.T) {
	m, err := templates.NewMails()
	if err != nil {
		t.Fatal(err)
	}
	d := confirmationData()
	subject, text, html, err := m.Confirmation(d)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Confirm your subscription to Daily Brief" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"Daily Brief", d.SiteURL, "once a day", d.ConfirmURL} {
		if !strings.Contains(text, want) {
			t.Errorf("the text part does not say %q:\n%s", want, text)
		}
		if !strings.Contains(html, want) {
			t.Errorf("the HTML part does not say %q", want)
		}
	}
	if n := strings.Count(html, `href="`+d.ConfirmURL+`"`); n != 2 {
		t.Errorf("the HTML part links the confirmation %d times, want 2 (the button and the link shown as text)", n)
	}
	if !strings.Contains(html, ">"+d.ConfirmURL+"</a>") {
		t.Error("the HTML part does not show the confirmation link as text")
	}
}

// TestConfirmationFitsASmallScreen: nothing in the HTML part is wider than
// a 375 px screen, and a long link may break.
func TestConfirmationFitsASmallScreen(t *testing.T) {
	m, _ := templates.NewMails()
	_, _, html, err := m.Confirmation(confirmationData())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, `name="viewport" content="width=device-width`) {
		t.Error("no viewport meta")
	}
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`width="(\d+)"`), regexp.MustCompile(`[^-]width:\s*(\d+)px`)} {
		for _, m := range re.FindAllStringSubmatch(html, -1) {
			if n, _ := strconv.Atoi(m[1]); n > 375-2*8 {
				t.Errorf("fixed width %s in the confirmation mail", m[0])
			}
		}
	}
	if !strings.Contains(html, "word-break:break-all") {
		t.Error("the link shown as text cannot break: a long link scrolls sideways")
	}
}
