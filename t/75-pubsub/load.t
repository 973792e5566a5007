# Acceptance, under RESP2 and RESP3: three subscribers, each on the same 10
# channels and 2 patterns, receive all of 10,000 messages that another
# client publishes in pipelines of PUBLISH, each the exact sequence of
# (type, channel, pattern, data) expected - in publish order, none lost,
# none doubled, a message followed by its pmessage where a channel also
# matches a pattern, a pmessage alone for a channel only a pattern matches.
# The three read in different ways (next, next_message, on_message) while
# the publishing goes on. Every PUBLISH reports the expected number of
# receivers, and nothing arrives after the last message.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

alarm 120;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

use constant { MESSAGES => 10_000, BATCH => 500, SUBSCRIBERS => 3 };

# The first index where two lists of tuples differ (undef: none).
sub first_difference {
    my ( $got, $want ) = @_;
    my $key = sub {
        join "\x01", map { $_ // '<undef>' } @{ $_[0] };
    };
    my $n = @$got > @$want ? @$got : @$want;
    for my $i ( 0 .. $n - 1 ) {
        return $i if !$got->[$i] || !$want->[$i] || $key->( $got->[$i] ) ne $key->( $want->[$i] );
    }
    return undef;
}

for my $protocol ( 2, 3 ) {
    subtest "3 subscribers x (10 channels + 2 patterns), 10,000 messages, RESP$protocol" => sub {
        my $base     = FIORTest::unique_key("load$protocol");
        my @channels = map { "$base:c$_" } 0 .. 9;
        my @patterns = ( "$base:c[0-2]", "$base:x*" );

        # Where message $i goes: the ten channels and two names only the
        # second pattern matches, in turn.
        my @targets = ( @channels, "$base:x0", "$base:x1" );
        my @plan    = map { [ $targets[ $_ % @targets ], "m$_:" . ( '.' x ( $_ % 37 ) ) ] }
            0 .. MESSAGES - 1;

        my ( @expected, @receivers );
        for my $p (@plan) {
            my ( $ch, $data ) = @$p;
            my $n = 0;
            if ( $ch =~ /:c(\d)\z/ ) {
                push @expected, [ 'message', $ch, undef, $data ];
                $n++;
                if ( $1 <= 2 ) { push @expected, [ 'pmessage', $ch, $patterns[0], $data ]; $n++ }
            }
            else {
                push @expected, [ 'pmessage', $ch, $patterns[1], $data ];
                $n++;
            }
            push @receivers, $n * SUBSCRIBERS;
        }
        is( scalar @expected, 12_502, 'the expected sequence: 12,502 deliveries each' );

        my @clients
            = map { Future::IO::Redis->new( %$srv, protocol => $protocol ) } 1 .. SUBSCRIBERS;
        my @subs;
        for my $redis (@clients) {
            my $sub = $redis->subscribe(@channels)->get;
            $sub->psubscribe(@patterns)->get;
            is( $sub->channel_count, 12, 'a subscriber: 10 channels + 2 patterns' );
            push @subs, $sub;
        }

        # Readers, running while the publishing goes on.
        my @got   = map { [] } 1 .. SUBSCRIBERS;
        my $total = @expected;
        my @done;
        push @done, (
            async sub {
                my $sub = $subs[0];
                while ( @{ $got[0] } < $total ) {
                    my $m = await $sub->next;
                    last unless $m;
                    push @{ $got[0] }, [ @{$m}{qw(type channel pattern data)} ];
                }
            }
        )->();
        push @done, (
            async sub {
                my $sub = $subs[1];
                while ( @{ $got[1] } < $total ) {
                    my $m = await $sub->next_message;
                    last unless $m;
                    push @{ $got[1] }, [ @{$m}{qw(type channel pattern message)} ];
                }
            }
        )->();
        my $third = Future->new;
        $subs[2]->on_message(
            sub {
                my ($m) = @_;
                push @{ $got[2] }, [ @{$m}{qw(type channel pattern data)} ];
                $third->done if @{ $got[2] } == $total;
                return;
            }
        );
        push @done, $third;

        # The publisher: pipelines of PUBLISH.
        my $pub = Future::IO::Redis->new(%$srv);
        my @counts;
        for ( my $i = 0; $i < MESSAGES; $i += BATCH ) {
            my $p = $pub->pipeline;
            $p->publish( @{ $plan[$_] } ) for $i .. $i + BATCH - 1;
            push @counts, @{ $p->execute->get };
        }
        is( scalar @counts, MESSAGES, 'every PUBLISH answered' );
        my $bad = first_difference( [ map { [$_] } @counts ], [ map { [$_] } @receivers ] );
        is( $bad, undef, 'every PUBLISH reached the expected number of receivers' )
            or diag("PUBLISH $bad: $counts[$bad] receivers, expected $receivers[$bad]");

        my $all = Future->wait_all(@done);
        ok( FIORTest::ready_within( $all, 60 ), 'every subscriber got its count' );
        for my $s ( 0 .. SUBSCRIBERS - 1 ) {
            is( scalar @{ $got[$s] }, $total, "subscriber $s: $total deliveries" );
            my $d = first_difference( $got[$s], \@expected );
            is( $d, undef, "subscriber $s: exactly the expected sequence, in order" )
                or diag( "first difference at $d: got "
                    . join( '|', map { $_ // 'undef' } @{ $got[$s][$d] // [] } )
                    . ', expected '
                    . join( '|', map { $_ // 'undef' } @{ $expected[$d] // [] } ) );
        }

        # Nothing more comes.
        my @extra = map { $_->next } @subs[ 0, 1 ];
        $loop->delay_future( after => 0.2 )->get;
        is(
            [ map { $_->is_ready ? 'more' : 'none' } @extra ],
            [ 'none', 'none' ],
            'nothing after the last message'
        );
        $_->cancel for @extra;
        is( scalar @{ $got[2] }, $total, 'nor for the callback' );

        for my $sub (@subs) {
            $sub->unsubscribe->get;
            $sub->punsubscribe->get;
        }
        is( [ map { $_->is_closed } @subs ], [ 1, 1, 1 ], 'all unsubscribed' );
        is(
            { @{ $pub->pubsub_numsub(@channels)->get } },
            { map { $_ => 0 } @channels },
            'the server has none of the channels'
        );
        $_->disconnect for @clients, $pub;
    };
}

done_testing;
