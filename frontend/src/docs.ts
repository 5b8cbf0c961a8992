// The API reference at /docs: Swagger UI from the swagger-ui-dist npm package, bundled here so
// that nothing loads from a CDN (and the page works with no internet).
import "swagger-ui-dist/swagger-ui.css";
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-bundle.js";

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  oauth2RedirectUrl: `${window.location.origin}/docs/oauth2-redirect`,
});
