/* test_flows.c - the flow memory: who spoke first, who answered, for how
 * long, and that it never grows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "flows.h"
#include "thp.h"

#define T0 1700000000000000ull
#define SEC 1000000ull

static struct ip_addr A, B, C;

static struct pkt mk(const struct ip_addr *s, const struct ip_addr *d, uint8_t proto,
		     uint16_t sp, uint16_t dp, uint8_t tcpf)
{
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.src = *s;
	p.dst = *d;
	p.family = AF_INET;
	p.proto = proto;
	p.sport = sp;
	p.dport = dp;
	p.tcp_flags = tcpf;
	p.flags = PKT_L4;
	return p;
}

static struct flow_info one(struct flows *f, const struct pkt *p, uint64_t t)
{
	struct flow_info fi;

	flows_batch(f, p, &t, 1, &fi);
	return fi;
}

static int setup(void **state)
{
	const uint8_t a[4] = { 198, 18, 0, 2 }, b[4] = { 198, 18, 0, 1 }, c[4] = { 198, 18, 0, 3 };

	addr_from_v4(&A, a);
	addr_from_v4(&B, b);
	addr_from_v4(&C, c);
	return 0;
}

/* The first packet starts a flow; the other side's packets answer it; an
 * answer makes the flow answered for the timeout, then it is forgotten. */
static void test_roles_and_answers(void **state)
{
	struct flows *f;
	struct pkt q = mk(&A, &B, IPPROTO_UDP, 40000, 53, 0), r = mk(&B, &A, IPPROTO_UDP, 53, 40000, 0);
	struct flow_info fi;

	assert_int_equal(flows_new(1024, 10000, 1, &f), 0);
	fi = one(f, &q, T0);
	assert_int_equal(fi.role, FLOW_NEW);
	assert_false(fi.answered);
	fi = one(f, &q, T0 + 1000);
	assert_int_equal(fi.role, FLOW_INIT);
	assert_false(fi.answered);
	fi = one(f, &r, T0 + 2000);
	assert_int_equal(fi.role, FLOW_ANSWER);
	assert_true(fi.peer_due);	/* a two-way exchange: tell the peers */
	fi = one(f, &q, T0 + 3000);
	assert_int_equal(fi.role, FLOW_INIT);
	assert_true(fi.answered);
	assert_false(fi.peer_due);	/* once a second at most */
	assert_true(flows_peer(f, &A, T0 + 3000) == false);	/* detect touches them */
	/* Still answered 9 s after the answer, not 11 s after it. */
	fi = one(f, &q, T0 + 2000 + 9 * SEC);
	assert_true(fi.answered);
	fi = one(f, &q, T0 + 2000 + 11 * SEC);
	assert_int_equal(fi.role, FLOW_INIT);
	assert_false(fi.answered);
	/* 11 s of silence: a new flow, whoever speaks. */
	fi = one(f, &r, T0 + 2000 + 23 * SEC);
	assert_int_equal(fi.role, FLOW_NEW);
	fi = one(f, &q, T0 + 2000 + 23 * SEC + 1);
	assert_int_equal(fi.role, FLOW_ANSWER);
	flows_free(f);
}

/* An ICMP error quoting a packet answers in that packet's flow but does
 * not make it answered: a closed port stays a closed port. */
static void test_icmp_error_is_no_answer(void **state)
{
	struct flows *f;
	struct pkt q = mk(&A, &B, IPPROTO_UDP, 40000, 5000, 0);
	struct pkt e = mk(&B, &A, IPPROTO_ICMP, 5000, 40000, 0);
	struct flow_info fi;

	e.flags |= PKT_ICMP_ERR;
	e.inner_proto = IPPROTO_UDP;
	e.icmp_type = 3;
	assert_int_equal(flows_new(1024, 60000, 2, &f), 0);
	one(f, &q, T0);
	fi = one(f, &e, T0 + 10);
	assert_int_equal(fi.role, FLOW_ANSWER);
	fi = one(f, &q, T0 + 20);
	assert_int_equal(fi.role, FLOW_INIT);
	assert_false(fi.answered);
	flows_free(f);
}

/* Flows differ by protocol, ports and addresses, not by direction. */
static void test_keys(void **state)
{
	struct flows *f;
	struct pkt p;

	assert_int_equal(flows_new(4096, 60000, 3, &f), 0);
	for (unsigned proto = 30; proto < 70; proto++) {
		p = mk(&C, &B, (uint8_t)proto, 0, 0, 0);
		p.flags = 0;
		assert_int_equal(one(f, &p, T0 + proto).role, FLOW_NEW);
	}
	for (unsigned port = 1; port <= 40; port++) {
		p = mk(&C, &B, IPPROTO_TCP, 50000, (uint16_t)port, 0x01);
		assert_int_equal(one(f, &p, T0 + SEC + port).role, FLOW_NEW);
		p = mk(&B, &C, IPPROTO_TCP, (uint16_t)port, 50000, 0x14);
		assert_int_equal(one(f, &p, T0 + SEC + port).role, FLOW_ANSWER);
	}
	/* Ports bound to their address: the same sum, or swapped, is another
	 * flow. */
	p = mk(&C, &B, IPPROTO_TCP, 50001, 39, 0x01);
	assert_int_equal(one(f, &p, T0 + 2 * SEC).role, FLOW_NEW);
	p = mk(&C, &B, IPPROTO_TCP, 40, 50000, 0x01);
	assert_int_equal(one(f, &p, T0 + 2 * SEC).role, FLOW_NEW);
	p = mk(&A, &B, IPPROTO_TCP, 50000, 1, 0x01);	/* another client */
	assert_int_equal(one(f, &p, T0 + 2 * SEC).role, FLOW_NEW);
	p = mk(&C, &B, IPPROTO_UDP, 50000, 1, 0);	/* another protocol */
	assert_int_equal(one(f, &p, T0 + 2 * SEC).role, FLOW_NEW);
	flows_free(f);
}

/* A TCP flow is two-way once both sides went past the handshake: a
 * SYN-ACK answered by a RST (a forged SYN's fate) is not. */
static void test_two_way_tcp(void **state)
{
	struct flows *f;
	struct pkt syn = mk(&A, &B, IPPROTO_TCP, 40000, 8080, 0x02);
	struct pkt synack = mk(&B, &A, IPPROTO_TCP, 8080, 40000, 0x12);
	struct pkt rst = mk(&A, &B, IPPROTO_TCP, 40000, 8080, 0x04);
	struct pkt ack = mk(&A, &B, IPPROTO_TCP, 40000, 8080, 0x10);
	struct flow_info fi;

	assert_int_equal(flows_new(1024, 60000, 4, &f), 0);
	one(f, &syn, T0);
	one(f, &synack, T0 + 10);
	fi = one(f, &rst, T0 + 20);
	assert_false(fi.peer_due);
	syn.sport = rst.sport = 40001;
	synack.dport = 40001;
	ack.sport = 40001;
	one(f, &syn, T0 + 30);
	one(f, &synack, T0 + 40);
	fi = one(f, &ack, T0 + 50);
	assert_true(fi.peer_due);
	fi = one(f, &ack, T0 + 60);
	assert_false(fi.peer_due);	/* told once a second at most */
	flows_peer_touch(f, &A, T0 + 60);
	assert_true(flows_peer(f, &A, T0 + 59 * SEC));
	assert_false(flows_peer(f, &A, T0 + 61 * SEC));
	assert_false(flows_peer(f, &C, T0 + 60));
	flows_free(f);
}

/* A full table gives up flows never answered before answered ones: a
 * flood of one-packet flows leaves a conversation its memory. (The flood's
 * ports equal the low bits of its addresses: no two of its flows may be
 * taken for one.) */
static void test_flood_keeps_conversations(void **state)
{
	struct flows *f;
	struct pkt q = mk(&A, &B, IPPROTO_UDP, 40000, 443, 0), r = mk(&B, &A, IPPROTO_UDP, 443, 40000, 0);
	struct pkt s;
	uint64_t tracked, evicted;

	assert_int_equal(flows_new(256, 60000, 5, &f), 0);
	one(f, &q, T0);
	one(f, &r, T0 + 1);
	for (uint32_t i = 0; i < 100000; i++) {
		uint8_t a[4] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
		struct ip_addr x;

		addr_from_v4(&x, a);
		s = mk(&x, &B, IPPROTO_TCP, (uint16_t)i, 80, 0x02);
		one(f, &s, T0 + 2 + i);
	}
	assert_true(one(f, &q, T0 + 200000).answered);
	flows_counts(f, &tracked, &evicted);
	assert_true(tracked <= 256);
	assert_true(evicted > 90000);
	flows_free(f);
}

/* The table, looked up at random by every packet, is in huge pages where
 * the kernel has them: a few TLB entries instead of a thousand. */
static void test_table_in_huge_pages(void **state)
{
	struct flows *f;
	long before, after;

	if (!thp_on()) {
		print_message("transparent huge pages off here: not checked\n");
		skip();
	}
	before = thp_process_kb();
	assert_int_equal(flows_new(262144, 120000, 1, &f), 0);
	for (uint32_t i = 0; i < 20000; i++) {
		const uint8_t a[4] = { 198, 19, (uint8_t)(i >> 8), (uint8_t)i };
		struct ip_addr x;
		struct pkt s;

		addr_from_v4(&x, a);
		s = mk(&x, &B, IPPROTO_TCP, 40000, 80, 0x02);
		one(f, &s, T0 + i);
	}
	after = thp_process_kb();
	print_message("flow table of 4 MiB: %ld kB more in huge pages\n", after - before);
	assert_true(after - before >= 2048);
	flows_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_and_answers),
		cmocka_unit_test(test_icmp_error_is_no_answer),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_two_way_tcp),
		cmocka_unit_test(test_flood_keeps_conversations),
		cmocka_unit_test(test_table_in_huge_pages),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
