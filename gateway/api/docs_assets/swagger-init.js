// Starts Swagger UI on the gateway's own OpenAPI document. A file, not an inline script, so
// the page's Content-Security-Policy allows scripts from the gateway only.
// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io for a badge.
// The page names the document (data-spec-url), so the spec's URL is said in one place.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({ url: root.dataset.specUrl, dom_id: "#swagger-ui", validatorUrl: null });
