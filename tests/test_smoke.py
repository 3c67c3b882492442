from tests.conftest import bearer


def test_client_credentials_token_reads_an_authorised_merchant(client, factory):
    partner = factory.app_client()
    merchant = factory.merchant()
    factory.authorize(partner, merchant, ["merchant.read"])
    token = factory.token(partner)

    response = client.get(f"/v1/merchants/{merchant.id}", headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json()["id"] == merchant.id
