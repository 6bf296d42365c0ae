from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

NEW_PASSWORD = [DataRequired(), Length(min=12, message="Use at least 12 characters."),
                Length(max=128, message="Use at most 128 characters.")]


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app, or a recovery code",
                       validators=[DataRequired(), Length(min=6, max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text"})
    submit = SubmitField("Verify")


class AppCodeForm(FlaskForm):
    code = StringField("6-digit code from your authenticator app", validators=[DataRequired(), Length(min=6, max=8)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField("Turn on")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class RegisterForm(FlaskForm):
    first_name = StringField("First name", validators=[DataRequired(), Length(max=100)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=100)])
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=NEW_PASSWORD,
                             description="At least 12 characters; common passwords are refused.")
    confirm = PasswordField("Repeat the password", validators=[DataRequired(), EqualTo("password",
                                                                                      "The passwords differ.")])
    accept_terms = BooleanField("I accept the terms of service and the privacy policy",
                                validators=[DataRequired("You must accept the terms to open an account.")])
    submit = SubmitField("Create my account")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField("Send me a link")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=NEW_PASSWORD)
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(), EqualTo("password", "The passwords differ.")])
    submit = SubmitField("Set the new password")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=128)])
    password = PasswordField("New password", validators=NEW_PASSWORD)
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(), EqualTo("password", "The passwords differ.")])
    submit = SubmitField("Change password")


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    code = StringField("Code from your authenticator app", validators=[DataRequired(), Length(min=6, max=20)],
                       render_kw={"autocomplete": "one-time-code"})
    submit = SubmitField("Turn off two-factor authentication")


class SimpleForm(FlaskForm):
    """A button that only carries the CSRF token."""
