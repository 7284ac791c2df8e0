package mailer

import "testing"

// TestClassifyRefusal: whose problem each permanent reply is, as the
// README's table says.
func TestClassifyRefusal(t *testing.T) {
	tests := []struct {
		command  string
		code     int
		enhanced string
		temp     bool
		want     Refusal
	}{
		{"RCPT TO", 550, "5.1.1", false, RecipientBounced},
		{"RCPT TO", 552, "5.2.2", false, RecipientBounced},
		{"DATA", 550, "5.1.1", false, RecipientBounced},
		{"RCPT TO", 550, "", false, RecipientBounced},
		{"RCPT TO", 552, "5.2.3", false, RecipientFailed},
		{"RCPT TO", 550, "5.7.1", false, RecipientFailed},
		{"RCPT TO", 553, "5.6.7", false, RecipientFailed},
		{"DATA", 552, "5.3.4", false, RecipientFailed},
		{"DATA", 554, "", false, RecipientFailed},
		{"RCPT TO", 550, "5.1.8", false, SenderRefused},
		{"RCPT TO", 553, "5.1.7", false, SenderRefused},
		{"MAIL FROM", 550, "5.7.1", false, SenderRefused},
		{"CONNECT", 554, "", false, SenderRefused},
		{"EHLO", 550, "", false, SenderRefused},
		{"AUTH", 535, "5.7.8", false, SenderRefused},
		{"STARTTLS", 0, "", false, SenderRefused},
		{"TLS", 0, "", false, SenderRefused},
		{"RCPT TO", 451, "4.3.0", true, NotRefused},
		{"DATA", 0, "", true, NotRefused},
	}
	for _, tt := range tests {
		se := &SMTPError{Command: tt.command, Code: tt.code, Enhanced: tt.enhanced, Temporary: tt.temp}
		if got := ClassifyRefusal(se); got != tt.want {
			t.Errorf("%d %s at %s: %v, want %v", tt.code, tt.enhanced, tt.command, got, tt.want)
		}
		// IsBounce, which suppresses the subscriber, says yes to bounces only.
		if got, want := IsBounce(se), tt.want == RecipientBounced; got != want {
			t.Errorf("IsBounce(%d %s at %s) = %v, want %v", tt.code, tt.enhanced, tt.command, got, want)
		}
	}
}
