"""The Microsoft identity platform v2.0, as far as calsync and msal use it."""
