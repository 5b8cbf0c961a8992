// swagger-ui-dist's browser bundles carry no types; only what src/docs.ts calls.
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const SwaggerUIBundle: (options: Record<string, unknown>) => unknown;
  export default SwaggerUIBundle;
}
declare module "swagger-ui-dist/oauth2-redirect.js";
