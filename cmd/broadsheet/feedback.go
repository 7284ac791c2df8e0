package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// webhookSecrets are the provider webhooks' credentials, from the
// environment only.
type webhookSecrets struct {
	SESTopicARN  string // BROADSHEET_SES_TOPIC_ARNS: the SNS topics accepted, comma-separated
	PostmarkAuth string // BROADSHEET_POSTMARK_WEBHOOK_AUTH: user:password of the webhook's basic auth
	MailgunKey   string // BROADSHEET_MAILGUN_SIGNING_KEY
	SendGridKey  string // BROADSHEET_SENDGRID_WEBHOOK_KEY: the verification key (base64 DER ECDSA public key)
}

func (w *webhookSecrets) fromEnv(read func(string) (string, error)) error {
	for _, v := range []struct {
		p    *string
		name string
	}{
		{&w.SESTopicARN, "BROADSHEET_SES_TOPIC_ARNS"},
		{&w.PostmarkAuth, "BROADSHEET_POSTMARK_WEBHOOK_AUTH"},
		{&w.MailgunKey, "BROADSHEET_MAILGUN_SIGNING_KEY"},
		{&w.SendGridKey, "BROADSHEET_SENDGRID_WEBHOOK_KEY"},
	} {
		var err error
		if *v.p, err = read(v.name); err != nil {
			return err
		}
	}
	return nil
}

// open returns the webhooks configured (nil for none).
func (w *webhookSecrets) open(svc *feedback.Service) (*feedback.Webhooks, error) {
	cfg := feedback.WebhookConfig{MailgunKey: w.MailgunKey}
	for _, arn := range strings.Split(w.SESTopicARN, ",") {
		if arn = strings.TrimSpace(arn); arn != "" {
			cfg.SESTopics = append(cfg.SESTopics, arn)
		}
	}
	if w.PostmarkAuth != "" {
		user, pass, ok := strings.Cut(w.PostmarkAuth, ":")
		if !ok || user == "" || len(pass) < 8 {
			return nil, usageErrorf("$BROADSHEET_POSTMARK_WEBHOOK_AUTH must be user:password, the password 8 characters or more")
		}
		cfg.PostmarkUser, cfg.PostmarkPassword = user, pass
	}
	if w.SendGridKey != "" {
		key, err := feedback.ParseSendGridKey(w.SendGridKey)
		if err != nil {
			return nil, usageErrorf("$BROADSHEET_SENDGRID_WEBHOOK_KEY: %v", err)
		}
		cfg.SendGridKey = key
	}
	if len(cfg.SESTopics) == 0 && cfg.PostmarkUser == "" && cfg.MailgunKey == "" && cfg.SendGridKey == nil {
		return nil, nil
	}
	return feedback.NewWebhooks(svc, cfg), nil
}

// inboundFlags registers serve's flags for reports coming in.
func (c *config) inboundFlags(f *envFlags) {
	f.string(&c.SoftBounceLimit, "soft-bounce-limit", "3/15d", "soft bounces (4.x.x, delayed, mailbox full) within a window that mark a subscriber bounced: N/DAYSd or N/DURATION")
	f.string(&c.InboundListen, "inbound-listen", "", "address of the inbound SMTP listener for bounces, complaints and mailto: unsubscribes, e.g. :2525 behind the bounce domain's MX (needs --bounce-address); empty: off")
	f.string(&c.InboundTLSCert, "inbound-tls-cert", "", "PEM certificate (chain) the inbound listener offers STARTTLS with")
	f.string(&c.InboundTLSKey, "inbound-tls-key", "", "PEM private key of --inbound-tls-cert")
}

// openFeedback wires the addresses reports come back to (when
// --bounce-address is set) into the subscription service's confirmation
// mails; newApp calls it.
func (a *app) openFeedback(signer *subscription.Signer) error {
	cfg := a.cfg
	if cfg.BounceAddress == "" {
		if cfg.UnsubscribeMailbox != "" {
			return usageErrorf("--unsubscribe-mailbox needs --bounce-address: broadsheet names a mailto: only when it reads the mail that comes back")
		}
		return nil
	}
	addrs, err := feedback.NewAddresses(cfg.BounceAddress, cfg.UnsubscribeMailbox, signer, time.Now)
	if err != nil {
		return usageErrorf("--bounce-address / --unsubscribe-mailbox: %v", err)
	}
	a.addresses = addrs
	return nil
}

// feedbackService returns the service reports are applied through.
func (a *app) feedbackService(signer *subscription.Signer) (*feedback.Service, error) {
	limit, window, err := feedback.ParseSoftLimit(a.cfg.SoftBounceLimit)
	if err != nil {
		return nil, usageErrorf("--soft-bounce-limit: %v", err)
	}
	return feedback.NewService(a.store, a.subs, feedback.Config{Addresses: a.addresses, Tags: signer,
		SoftLimit: limit, SoftWindow: window, Observer: a.metrics, Logger: a.logger}), nil
}

// inboundTLS loads the listener's certificate, if configured.
func (c *config) inboundTLS() (*tls.Config, error) {
	switch {
	case c.InboundTLSCert == "" && c.InboundTLSKey == "":
		return nil, nil
	case c.InboundTLSCert == "" || c.InboundTLSKey == "":
		return nil, usageErrorf("--inbound-tls-cert and --inbound-tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(c.InboundTLSCert, c.InboundTLSKey)
	if err != nil {
		return nil, usageErrorf("--inbound-tls-cert/--inbound-tls-key: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// startInbound starts the inbound listener on ln (when configured) and
// returns a function that stops it.
func startInbound(ctx context.Context, svc *feedback.Service, ln net.Listener, tlsCfg *tls.Config, log *slog.Logger) func() {
	l := feedback.NewListener(svc, feedback.ListenerConfig{Domain: domainOf(svc.Addresses().Bounce()), TLS: tlsCfg, Logger: log})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Serve(ln); err != nil {
			log.Error("Inbound SMTP listener stopped", slog.Any("error", err))
		}
	}()
	log.Info("Inbound SMTP listener on", slog.String("listen", ln.Addr().String()), slog.Bool("starttls", tlsCfg != nil),
		slog.String("bounce", svc.Addresses().Bounce()), slog.String("unsubscribe", svc.Addresses().Unsubscribe()))
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := l.Shutdown(sctx); err != nil {
			log.Warn("Inbound SMTP listener shutdown", slog.Any("error", err))
		}
		<-done
	}
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }
