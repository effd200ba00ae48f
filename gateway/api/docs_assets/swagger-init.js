// Starts Swagger UI on the gateway's own /openapi.json. A file, not an inline script, so
// the page's Content-Security-Policy allows scripts from the gateway only.
// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io for a badge.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null });
