// Swagger UI's OAuth2 redirect page (/docs/oauth2-redirect), from the npm package.
import "swagger-ui-dist/oauth2-redirect.js";
