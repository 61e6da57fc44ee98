// Loaded before the app bundle (a plain file: the CSP allows no inline script) so the
// home page's data is on its way while ~2 MB of JavaScript is still being parsed.
(function () {
  if (window.location.pathname !== "/") return;
  var p = fetch("/api/v1/dashboard", { credentials: "same-origin", headers: { accept: "application/json" } });
  p.catch(function () {});
  window.__opsloopPrefetch = { "/api/v1/dashboard": p };
})();
