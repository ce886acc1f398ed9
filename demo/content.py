"""The words of the demo: ticket subjects and messages in Spanish and English.

This is sample data, not interface text, so it is not translated through gettext:
each customer writes, and is answered, in their own language.
"""

# category: (team, weight, tags, {language: subjects}). "{number}" gets a made-up id.
CATEGORIES: dict[str, tuple[str, float, tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "billing": (
        "Billing",
        0.24,
        ("invoice", "refund"),
        {
            "es": (
                "Cargo duplicado en la factura {number}",
                "No encuentro la factura {number}",
                "Solicitud de reembolso del pedido {number}",
                "Cambio de datos fiscales",
                "El pago con tarjeta ha sido rechazado",
                "Consulta sobre el IVA de la factura {number}",
            ),
            "en": (
                "Duplicate charge on invoice {number}",
                "Can't find invoice {number}",
                "Refund request for order {number}",
                "Please update our billing address",
                "My card payment was declined",
                "Question about VAT on invoice {number}",
            ),
        },
    ),
    "account": (
        "Support",
        0.2,
        ("login", "password"),
        {
            "es": (
                "No puedo entrar en mi cuenta",
                "No me llega el correo para cambiar la contraseña",
                "Quiero añadir un usuario a la cuenta",
                "Cómo cambio el correo de la cuenta",
                "Cuenta bloqueada tras varios intentos",
            ),
            "en": (
                "I can't log in to my account",
                "Password reset email never arrives",
                "How do I add a user to our account?",
                "How can I change the account email?",
                "Account locked after several attempts",
            ),
        },
    ),
    "technical": (
        "Technical",
        0.24,
        ("bug", "integration"),
        {
            "es": (
                "Error {number} al exportar informes",
                "La integración con el CRM ha dejado de sincronizar",
                "La aplicación va muy lenta desde ayer",
                "Los informes salen vacíos",
                "Error al importar el fichero CSV",
                "La API devuelve un error 500",
            ),
            "en": (
                "Error {number} when exporting reports",
                "CRM integration stopped syncing",
                "The app has been very slow since yesterday",
                "Reports come out empty",
                "CSV import fails",
                "The API returns a 500 error",
            ),
        },
    ),
    "shipping": (
        "Support",
        0.12,
        ("shipping",),
        {
            "es": (
                "El pedido {number} no ha llegado",
                "El paquete del pedido {number} llegó dañado",
                "Cambiar la dirección de entrega del pedido {number}",
            ),
            "en": (
                "Order {number} hasn't arrived",
                "Package for order {number} arrived damaged",
                "Change the delivery address of order {number}",
            ),
        },
    ),
    "onboarding": (
        "Support",
        0.1,
        ("onboarding",),
        {
            "es": (
                "Ayuda con la configuración inicial",
                "Cómo importo mis clientes",
                "Solicitud de formación para el equipo",
            ),
            "en": (
                "Help with the initial setup",
                "How do I import my customers?",
                "Training session for our team",
            ),
        },
    ),
    "feature_request": (
        "Technical",
        0.1,
        ("feature-request",),
        {
            "es": (
                "Sugerencia: exportar a Excel",
                "¿Podéis añadir modo oscuro?",
                "Propuesta: informes programados por correo",
            ),
            "en": (
                "Suggestion: export to Excel",
                "Could you add a dark mode?",
                "Idea: scheduled reports by email",
            ),
        },
    ),
}

TAGS = (
    "vip",
    "invoice",
    "refund",
    "login",
    "password",
    "bug",
    "integration",
    "shipping",
    "onboarding",
    "feature-request",
)

OPENING = {
    "es": (
        "Hola,\n\n{subject}. ¿Me podéis ayudar?\n\nGracias,\n{customer}",
        "Buenos días:\n\nOs escribo porque {subject_lower}. Es bastante urgente para "
        "nosotros.\n\nUn saludo,\n{customer}",
        "Hola, {subject_lower}. Lo he intentado varias veces y sigue igual.\n\n{customer}",
    ),
    "en": (
        "Hi,\n\n{subject}. Can you help?\n\nThanks,\n{customer}",
        "Good morning,\n\nI'm writing because: {subject_lower}. This is quite urgent for "
        "us.\n\nBest regards,\n{customer}",
        "Hello, {subject_lower}. I've tried several times and nothing changes.\n\n{customer}",
    ),
}

AGENT_REPLY = {
    "es": (
        "Hola {first_name}:\n\nGracias por escribirnos. Ya lo estamos revisando; "
        "¿nos puedes enviar una captura de pantalla?\n\nUn saludo,\n{agent}",
        "Hola {first_name}:\n\nLo hemos corregido en tu cuenta. ¿Puedes comprobar si ya "
        "funciona?\n\nUn saludo,\n{agent}",
        "Hola {first_name}:\n\nTe he enviado las instrucciones por correo. Cualquier duda, "
        "aquí estamos.\n\n{agent}",
        "Hola {first_name}:\n\nGracias por la información. Lo he pasado al equipo técnico "
        "y te aviso en cuanto tenga novedades.\n\n{agent}",
    ),
    "en": (
        "Hi {first_name},\n\nThanks for reaching out. We're looking into it; could you send "
        "us a screenshot?\n\nBest,\n{agent}",
        "Hi {first_name},\n\nWe've fixed it on your account. Could you check whether it "
        "works now?\n\nBest,\n{agent}",
        "Hi {first_name},\n\nI've emailed you the steps. Let us know if anything is "
        "unclear.\n\n{agent}",
        "Hi {first_name},\n\nThanks for the details. I've passed this to our technical team "
        "and will update you as soon as I hear back.\n\n{agent}",
    ),
}

CUSTOMER_REPLY = {
    "es": (
        "Os adjunto la captura. Sigue pasando.",
        "Ahora funciona, ¡gracias!",
        "Sigue sin funcionar, lo he vuelto a intentar esta mañana.",
        "Perfecto, muchas gracias por la rapidez.",
    ),
    "en": (
        "Screenshot attached. It still happens.",
        "It works now, thanks!",
        "Still not working, I tried again this morning.",
        "Perfect, thank you for the quick answer.",
    ),
}

REOPEN_REPLY = {
    "es": ("Vuelve a pasar lo mismo desde esta mañana.", "Perdón, pero el problema ha vuelto."),
    "en": ("It's happening again since this morning.", "Sorry, but the problem is back."),
}

NOTES = (
    "Cliente importante, revisar con prioridad.",
    "Reproducido en staging; abierto bug interno.",
    "Ya tuvo un caso parecido el mes pasado.",
    "Checked the logs: timeout on the customer's side.",
    "Refund approved by finance.",
    "Waiting for engineering; ETA end of week.",
)

EVENT_NOTES = {
    "meeting": ("Quarterly review", "Reunión de seguimiento", "Demo of the new reports"),
    "call": ("Renewal call", "Llamada de bienvenida", "Follow-up call"),
    "other": ("Mentioned us on social media", "Nos mencionó en redes sociales"),
    "return": ("Returned a faulty device", "Devolución de un producto defectuoso"),
}
