package mailer

import "testing"

func TestAppendDotStuffed(t *testing.T) {
	tests := map[string]string{
		"Subject: x\r\n\r\nbody\r\n":            "Subject: x\r\n\r\nbody\r\n.\r\n",
		".starts with a dot\r\n.\r\n..two\r\n":  "..starts with a dot\r\n..\r\n...two\r\n.\r\n",
		"no final line break":                   "no final line break\r\n.\r\n",
		"a\r\n.\r\nb":                           "a\r\n..\r\nb\r\n.\r\n",
		"":                                      "\r\n.\r\n",
		"keeps a bare\n.dot inside a CRLF text": "keeps a bare\n.dot inside a CRLF text\r\n.\r\n",
	}
	for in, want := range tests {
		if got := string(appendDotStuffed(nil, []byte(in))); got != want {
			t.Errorf("appendDotStuffed(%q) = %q, want %q", in, got, want)
		}
	}
}
