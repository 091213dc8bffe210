// The console login page: POST /api/v1/auth/login sets the session cookie.

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

/** Only console paths of this site: never an open redirect. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/console";
  return next.startsWith("/console") && !next.startsWith("/console/login") ? next : "/console";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const data = new FormData(form);
  const email = String(data.get("email") || "").trim();
  const password = String(data.get("password") || "");
  if (!email || !password) {
    error.textContent = "Enter your email and password.";
    error.hidden = false;
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
      credentials: "same-origin",
    });
    if (response.ok) {
      location.assign(nextPath());
      return;
    }
    const answer = await response.json().catch(() => ({}));
    error.textContent =
      answer.error?.code === "bad_login" ? "Wrong email or password." : answer.error?.message || "Login failed.";
    error.hidden = false;
  } catch {
    error.textContent = "Cannot reach the server. Check your connection and try again.";
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
