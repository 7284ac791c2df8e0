package feedback

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file       string
		kind       Kind
		format     string
		diagnostic string
		recipients []string
		addresses  []string
		autoReply  bool
	}{
		// Action failed with a 4.x.x status: given up for now, soft.
		{"rfc3464-c1-timeout.eml", Soft, "dsn", "Status 4.0.0 failed: smtp; 426 connection timed out",
			[]string{"louisl@larry.slip.umd.edu", "louisl@larry.slip.umd.edu"}, []string{"owner-info-mime@cs.utk.edu"}, false},
		// One recipient failed with 5.0.0: the report is hard.
		{"rfc3464-c2-user-unknown.eml", Hard, "dsn", "Status 5.0.0 failed: smtp; 550 'arathib@vnet.IBM.COM' is not a registered gateway user",
			[]string{"arathib@vnet.ibm.com", "arathib@vnet.ibm.com", "johnh@hpnjld.njd.hp.com", "johnh@hpnjld.njd.hp.com", "wsnell@sdcc13.ucsd.edu", "wsnell@sdcc13.ucsd.edu"},
			[]string{"owner-ups-mib@CS.UTK.EDU"}, false},
		{"rfc3464-c3-delayed.eml", Soft, "dsn", "Status 4.0.0 delayed:", []string{"thomas@de-montfort.ac.uk"}, []string{"owner-notifications@ietf.org"}, false},
		{"rfc5965-b1-abuse.eml", Complaint, "arf", "Feedback-Type abuse SomeGenerator/1.0", []string{"user@example.com"},
			[]string{"somespammer@example.net", "abuse@example.net"}, false},
		{"plain-qmail-bounce.eml", Soft, "plain", "failure notice", nil, []string{"bounces@news.example.com"}, false},
		{"plain-unsubscribe.eml", Soft, "plain", "unsubscribe", nil, []string{"unsubscribe@news.example.com"}, false},
		{"plain-autoreply.eml", Soft, "plain", "Out of office", nil, []string{"bounces@news.example.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rep, err := Parse(bytes.NewReader(fixture(t, tt.file)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if rep.Kind != tt.kind || rep.Format != tt.format || rep.Diagnostic != tt.diagnostic || rep.AutoReply != tt.autoReply {
				t.Errorf("got kind %q format %q diagnostic %q auto-reply %v, want %q %q %q %v",
					rep.Kind, rep.Format, rep.Diagnostic, rep.AutoReply, tt.kind, tt.format, tt.diagnostic, tt.autoReply)
			}
			if !slices.Equal(rep.Recipients, tt.recipients) {
				t.Errorf("recipients %q, want %q", rep.Recipients, tt.recipients)
			}
			if !slices.Equal(rep.Addresses, tt.addresses) {
				t.Errorf("addresses %q, want %q", rep.Addresses, tt.addresses)
			}
		})
	}
}

func TestParseVariants(t *testing.T) {
	c2 := string(fixture(t, "rfc3464-c2-user-unknown.eml"))
	arf := string(fixture(t, "rfc5965-b1-abuse.eml"))
	tests := []struct {
		name string
		msg  string
		kind Kind
	}{
		{"every recipient delivered", strings.NewReplacer("Action: failed", "Action: delivered", "Action: delayed", "Action: relayed").Replace(c2), None},
		{"mailbox full counts as soft", strings.NewReplacer("Status: 5.0.0", "Status: 5.2.2", "Action: delayed", "Action: delivered").Replace(c2), Soft},
		{"a policy block counts as soft", strings.NewReplacer("Status: 5.0.0", "Status: 5.7.1", "Action: delayed", "Action: delivered").Replace(c2), Soft},
		{"global delivery status (RFC 6533)", strings.ReplaceAll(c2, "message/delivery-status", "message/global-delivery-status"), Hard},
		{"a DMARC failure report", strings.Replace(arf, "Feedback-Type: abuse", "Feedback-Type: auth-failure", 1), None},
		{"a report without its machine-readable part", strings.ReplaceAll(c2, "message/delivery-status", "text/plain"), Soft},
		{"CRLF line endings", strings.ReplaceAll(c2, "\n", "\r\n"), Hard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tt.msg))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if rep.Kind != tt.kind {
				t.Errorf("kind %q, want %q", rep.Kind, tt.kind)
			}
		})
	}
}

// The returned message's Return-Path and List-Unsubscribe mailto: are
// where a tag is found when the report goes elsewhere (an FBL address).
func TestParseReturnedHeaders(t *testing.T) {
	arf := strings.Replace(string(fixture(t, "rfc5965-b1-abuse.eml")), "From: <somespammer@example.net>\nReceived:",
		"Return-Path: <bounces+tag1@news.example.com>\nList-Unsubscribe: <https://news.example.com/unsubscribe/x>,\n <mailto:unsubscribe+tag2@news.example.com?subject=unsubscribe>\nFrom: <somespammer@example.net>\nReceived:", 1)
	rep, err := Parse(strings.NewReader(arf))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"somespammer@example.net", "abuse@example.net", "bounces+tag1@news.example.com", "unsubscribe+tag2@news.example.com"}
	if !slices.Equal(rep.Addresses, want) {
		t.Errorf("addresses %q, want %q", rep.Addresses, want)
	}
	dsn := strings.Replace(string(fixture(t, "rfc3464-c3-delayed.eml")), "--Boundary_(ID_cdXJ1Epvoy5y0mrv3PKXaQ)--",
		"--Boundary_(ID_cdXJ1Epvoy5y0mrv3PKXaQ)\nContent-Type: text/rfc822-headers\n\nReturn-Path: <bounces+tag3@news.example.com>\nSubject: x\n\n--Boundary_(ID_cdXJ1Epvoy5y0mrv3PKXaQ)--", 1)
	if rep, err = Parse(strings.NewReader(dsn)); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Addresses, "bounces+tag3@news.example.com") {
		t.Errorf("addresses %q lack the returned headers' Return-Path", rep.Addresses)
	}
}

func TestParseMalformed(t *testing.T) {
	for name, msg := range map[string]string{
		"a header line without a colon": "this is not mail\n\nbody",
		"a DSN without recipients":      "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n--b--\n",
		"an ARF without feedback type":  "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b\nContent-Type: message/feedback-report\n\nUser-Agent: x\n\n--b--\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(msg)); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\r\n  b\tc\x00d "); got != "a b c d" {
		t.Errorf("%q", got)
	}
	if got := oneLine(strings.Repeat("é", 400)); len(got) > maxDiagnostic || !strings.HasPrefix(got, "éé") {
		t.Errorf("%d bytes", len(got))
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		rep, err := Parse(bytes.NewReader(msg))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !slices.Contains(append(Kinds, None), rep.Kind) {
			t.Fatalf("kind %q", rep.Kind)
		}
		if len(rep.Diagnostic) > maxDiagnostic || strings.ContainsAny(rep.Diagnostic, "\r\n") {
			t.Fatalf("diagnostic %q", rep.Diagnostic)
		}
	})
}
