/// The built-in templates, one per (event, channel), in the same format as template files (see
/// `NotificationTemplates`): for e-mail the first line is the subject, for push the title; the
/// body follows after a blank line. SMS is one short body. Written in Portuguese for TechStore.
enum DefaultTemplates {
    static let sources: [String: String] = [
        // MARK: order-placed
        "order-placed.email": """
        TechStore: recebemos seu pedido {{order_id}}

        Olá!

        Recebemos seu pedido {{order_id}} ({{items_text}}) no valor de {{total}}.
        Estamos confirmando o estoque e o pagamento e avisaremos você assim que estiver tudo certo.

        Obrigado por comprar na TechStore.
        """,
        "order-placed.sms": """
        TechStore: pedido {{order_id}} recebido ({{total}}). Avisaremos quando for confirmado.
        """,
        "order-placed.push": """
        Pedido recebido

        Seu pedido de {{total}} está sendo processado.
        """,

        // MARK: order-confirmed
        "order-confirmed.email": """
        TechStore: pedido {{order_id}} confirmado

        Olá!

        Seu pedido {{order_id}} foi confirmado e o pagamento de {{total}} foi aprovado.
        Avisaremos você quando ele for enviado.

        Obrigado por comprar na TechStore.
        """,
        "order-confirmed.sms": """
        TechStore: pedido {{order_id}} confirmado. Pagamento de {{total}} aprovado.
        """,
        "order-confirmed.push": """
        Pedido confirmado

        Seu pedido de {{total}} foi confirmado.
        """,

        // MARK: order-cancelled
        "order-cancelled.email": """
        TechStore: pedido {{order_id}} cancelado

        Olá!

        Seu pedido {{order_id}} foi cancelado. {{reason_text}}
        Se algum valor foi reservado no seu cartão, ele será liberado automaticamente.

        Sentimos muito. Equipe TechStore.
        """,
        "order-cancelled.sms": """
        TechStore: pedido {{order_id}} cancelado. {{reason_text}}
        """,
        "order-cancelled.push": """
        Pedido cancelado

        {{reason_text}}
        """,

        // MARK: payment-refunded
        "payment-refunded.email": """
        TechStore: reembolso de {{amount}}

        Olá!

        Reembolsamos {{amount}} referente ao pedido {{order_id}}.
        O valor aparece na sua fatura ou conta em alguns dias úteis, conforme o meio de pagamento.

        Equipe TechStore.
        """,
        "payment-refunded.sms": """
        TechStore: reembolso de {{amount}} do pedido {{order_id}} processado.
        """,
        "payment-refunded.push": """
        Reembolso processado

        Devolvemos {{amount}} do pedido {{order_id}}.
        """,

        // MARK: roles-changed
        "roles-changed.email": """
        TechStore: seus perfis de acesso mudaram

        Olá!

        Um administrador alterou os perfis da sua conta. Agora eles são: {{roles}}.
        Se você não esperava esta mudança, fale com o suporte.

        Equipe TechStore.
        """,
        "roles-changed.sms": """
        TechStore: os perfis da sua conta agora são {{roles}}. Não esperava? Fale com o suporte.
        """,
        "roles-changed.push": """
        Perfis de acesso alterados

        Sua conta agora tem os perfis: {{roles}}.
        """,
    ]
}
