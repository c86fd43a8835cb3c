package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// The pages the links in messages open when no client app takes them
// (SIGNET_SITE_URL unset): /verify-email, /reset-password,
// /confirm-email and /cancel-email-change, the token in the query. A GET
// only shows a form carrying the token, so that a mail scanner that
// follows the link spends nothing; the form's POST spends it through the
// same service call as the JSON endpoint (the per-address budget of
// rejected links, the audit event, the metrics), then shows the outcome.

// linkFlow is one of those pages.
type linkFlow struct {
	path string
	// page is the form's template: "link" (one button) or "reset" (a new
	// password).
	page          string
	title, detail string
	button        string
	doneTitle     string
	// badDetail and badLinks follow a refused link: what to do next.
	badDetail string
	badLinks  func(s *Server) []pageLink
	// spend does the flow's work and says what was done.
	spend func(s *Server, c *gin.Context, token, password string) (done string, err error)
}

// pageLink is a link on a page.
type pageLink struct{ Href, Text string }

// maxLinkTokenBytes bounds the token a page accepts; the issuer's are 50
// bytes.
const maxLinkTokenBytes = 128

func (s *Server) forgotLink() []pageLink {
	return []pageLink{{Href: s.basePath + issuer.PathForgotPassword, Text: "Send me a link to choose a new password"}}
}

var (
	verifyEmailFlow = linkFlow{
		path: issuer.PathVerifyEmail, page: "link",
		title:     "Confirm your email address",
		detail:    "Confirm that this address is yours to finish setting up your account.",
		button:    "Confirm my address",
		doneTitle: "Address confirmed",
		badDetail: "If your address is confirmed already, just sign in. If it is not, choosing a new password through the link below confirms it too.",
		badLinks:  (*Server).forgotLink,
		spend: func(s *Server, c *gin.Context, token, _ string) (string, error) {
			u, err := s.iss.Lifecycle.VerifyEmail(requestContext(c), caller(c), token)
			return u.Email + " is confirmed. Go back to the application and sign in.", err
		},
	}
	resetPasswordFlow = linkFlow{
		path: issuer.PathResetPassword, page: "reset",
		title:     "Choose a new password",
		button:    "Set the new password",
		doneTitle: "Password changed",
		badDetail: "Reset links work once and expire soon after they are sent. Ask for a new one.",
		badLinks:  (*Server).forgotLink,
		spend: func(s *Server, c *gin.Context, token, password string) (string, error) {
			err := s.iss.Lifecycle.ResetPassword(requestContext(c), caller(c), token, password)
			return "Your new password is set and every session was signed out. Go back to the application and sign in with it.", err
		},
	}
	confirmEmailFlow = linkFlow{
		path: issuer.PathConfirmEmail, page: "link",
		title:     "Confirm your new email address",
		detail:    "Confirm that this address is yours to make it your account's address.",
		button:    "Confirm the new address",
		doneTitle: "Address changed",
		badDetail: "To change your address, sign in and ask for the change again.",
		spend: func(s *Server, c *gin.Context, token, _ string) (string, error) {
			u, err := s.iss.Lifecycle.ConfirmEmailChange(requestContext(c), caller(c), token)
			return "Your account's address is now " + u.Email + ". Sign in with it from now on.", err
		},
	}
	cancelEmailChangeFlow = linkFlow{
		path: issuer.PathCancelEmailChange, page: "link",
		title:     "Cancel the email change",
		detail:    "Keep this address on your account (or put it back) and sign out every session, including the one that asked for the change.",
		button:    "Cancel the change and sign out everywhere",
		doneTitle: "Email change cancelled",
		badDetail: "The change cannot be cancelled with this link any more. If you did not ask for it, choose a new password.",
		badLinks:  (*Server).forgotLink,
		spend: func(s *Server, c *gin.Context, token, _ string) (string, error) {
			err := s.iss.Lifecycle.CancelEmailChange(requestContext(c), caller(c), token)
			return "Your account keeps this address and every session was signed out. If you did not ask for the change, choose a new password too.", err
		},
	}
)

// handleLinkPage shows (GET) and handles (POST) one link page.
func (s *Server) handleLinkPage(f linkFlow) gin.HandlerFunc {
	action := s.basePath + f.path
	return func(c *gin.Context) {
		var token, password string
		var posted bool
		if c.Request.Method == http.MethodPost {
			form, ok := s.postedForm(c)
			if !ok {
				return
			}
			token, password, posted = form["token"], form["password"], true
		} else {
			token = c.Query("token")
		}
		if token == "" || len(token) > maxLinkTokenBytes {
			s.errorPage(c, http.StatusBadRequest, "invalid_request",
				"This page opens from the link in a message, and this link has no token or is cut short. Open the whole link from the message again.")
			return
		}
		showForm := func(status int, msg string) {
			csrf, err := s.csrfToken(c)
			if err != nil {
				s.failPage(c, err)
				return
			}
			s.renderPage(c, status, f.page, pageData{Title: f.title, Detail: f.detail, Button: f.button,
				Action: action, Token: token, CSRF: csrf, Error: msg}, "")
		}
		if !posted {
			showForm(http.StatusOK, "")
			return
		}
		done, err := f.spend(s, c, token, password)
		if err == nil {
			s.renderPage(c, http.StatusOK, "message", pageData{Title: f.doneTitle, Message: done}, "")
			return
		}
		e := issuer.AsError(err)
		switch e.Kind {
		case issuer.KindBadLink:
			d := pageData{Title: "This link cannot be used", Error: "The link is invalid, expired or already used.", Detail: f.badDetail}
			if f.badLinks != nil {
				d.Links = f.badLinks(s)
			}
			s.renderPage(c, errorTable[e.Kind].status, "message", d, "")
		case issuer.KindInvalid:
			if f.page != "reset" {
				s.failPage(c, err)
				return
			}
			// The password policy's refusal, in its own words; the link
			// stays usable (ResetPassword spends it last): ask again.
			showForm(errorTable[e.Kind].status, e.Description)
		case issuer.KindEmailTaken:
			s.renderPage(c, errorTable[e.Kind].status, "message", pageData{Title: "This link cannot be used", Error: e.Description}, "")
		default:
			s.failPage(c, err)
		}
	}
}
