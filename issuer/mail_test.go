package issuer

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestMailTemplates: the embedded templates render every message with its
// link; a file in the override directory replaces its embedded twin; a
// broken override stops start-up; HTML escapes what it is given.
func TestMailTemplates(t *testing.T) {
	tpl, err := loadMailTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := mailData{Email: "ann@example.com", Link: "https://app.example/reset-password#token=sgt_pr_x", ExpiresIn: "30 minutes"}
	m, err := tpl.render(MailPasswordReset, d)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Reset your password" || !strings.Contains(m.Text, d.Link) || !strings.Contains(m.HTML, `href="`+d.Link+`"`) || !strings.Contains(m.Text, "30 minutes") {
		t.Fatalf("rendered: %+v", m)
	}
	override := fstest.MapFS{"password_reset.txt.tmpl": {Data: []byte(`{{define "subject"}}Acme: new password{{end}}Go to {{.Link}}`)}}
	tpl, err = loadMailTemplates(override)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ = tpl.render(MailPasswordReset, d); m.Subject != "Acme: new password" || m.Text != "Go to "+d.Link || !strings.Contains(m.HTML, "<a href") {
		t.Fatalf("overridden: %+v", m)
	}
	if m, _ = tpl.render(MailVerifyEmail, d); m.Subject != "Confirm your email address" {
		t.Fatalf("a template not overridden changed: %+v", m)
	}
	for name, src := range map[string]string{
		"password_reset.txt.tmpl": `no subject {{.Link}}`,
		"verify_email.html.tmpl":  `{{.Nope}}`,
		"invite.txt.tmpl":         `{{define "subject"}}x{{end}}{{if}}`,
	} {
		if _, err := loadMailTemplates(fstest.MapFS{name: {Data: []byte(src)}}); err == nil {
			t.Errorf("a broken %s was accepted", name)
		}
	}
	m, _ = tpl.render(MailEmailChangeNotice, mailData{Email: "a@example.com", NewEmail: `<script>x</script>@example.com`, Link: "https://app.example/x"})
	if strings.Contains(m.HTML, "<script>") {
		t.Fatal("the HTML template did not escape")
	}
	for d, want := range map[time.Duration]string{30 * time.Minute: "30 minutes", time.Hour: "1 hour", 24 * time.Hour: "24 hours",
		72 * time.Hour: "3 days", 168 * time.Hour: "7 days", 90 * time.Second: "1 minute"} {
		if got := inWords(d); got != want {
			t.Errorf("inWords(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestMailLinks: a site URL gets the token in the fragment; without one
// the links open the issuer's own pages with the token in the query, and
// the defaults keep saying so when applied again.
func TestMailLinks(t *testing.T) {
	app, err := LifecycleConfig{SiteURL: "https://app.example/"}.withDefaults("https://issuer.example/base")
	if err != nil {
		t.Fatal(err)
	}
	own, err := LifecycleConfig{}.withDefaults("https://issuer.example/base/")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := own.withDefaults("https://issuer.example/base"); !again.issuerPages || app.issuerPages {
		t.Fatalf("issuerPages: own %v, own again %v, app %v", own.issuerPages, again.issuerPages, app.issuerPages)
	}
	// A site URL that names the issuer is the issuer's own pages.
	if self, _ := (LifecycleConfig{SiteURL: "https://issuer.example/base/"}).withDefaults("https://issuer.example/base"); !self.issuerPages {
		t.Fatal("SiteURL = the issuer URL: links do not open the issuer's pages")
	}
	for _, c := range []struct {
		cfg         LifecycleConfig
		path, token string
		want        string
	}{
		{app, PathResetPassword, "sgt_pr_x", "https://app.example/reset-password#token=sgt_pr_x"},
		{app, PathForgotPassword, "", "https://app.example/forgot-password"},
		{own, PathResetPassword, "sgt_pr_x", "https://issuer.example/base/reset-password?token=sgt_pr_x"},
		{own, PathForgotPassword, "", "https://issuer.example/base/forgot-password"},
	} {
		w := &outboxWriter{siteURL: c.cfg.SiteURL, tokenInQuery: c.cfg.issuerPages}
		if got := w.link(c.path, c.token); got != c.want {
			t.Errorf("link(%s, %q) = %s, want %s", c.path, c.token, got, c.want)
		}
	}
}
