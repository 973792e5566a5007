# The pub/sub API's basics, under RESP2 and RESP3: subscribe, psubscribe
# and ssubscribe yield a Future::IO::Redis::Subscription whose next gives
# { type, channel, pattern, data } (pattern undef except for pmessage) and
# next_message { type, channel, message, pattern }, in publish order (a
# cancelled next takes nothing); channels, patterns, sharded_channels and
# channel_count follow subscribe and unsubscribe (no names = every one of
# that kind; also the client's unsubscribe forms and unsubscribe_all, which
# do nothing without a subscription); once the last name is gone the
# subscription is closed (is_closed, next gives undef, also to a next
# already waiting, is_pubsub false), the client runs commands again, and
# subscribing again gives a new, working subscription; SSUBSCRIBE and
# SPUBLISH deliver smessages on a standalone server; SUBSCRIBE and its
# relatives sent with command() are still refused, pointing at the
# subscribe methods; binary channel names and payloads (every byte value,
# 1 MB, empty, UTF-8 text sent as its bytes) round-trip; and a prefixed
# client's channel names are not prefixed.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Encode       qw(encode_utf8);
use Scalar::Util qw(refaddr);
use lib 't/lib';
use FIORTest;
use FIORServer;

alarm 120;    # a hang (a next that never comes) fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# Publishes and looks at the server (never subscribed).
my $pub = Future::IO::Redis->new(%$srv);
$pub->connect->get;

for my $protocol ( 2, 3 ) {
    my %opt  = ( %$srv, protocol => $protocol );
    my $base = FIORTest::unique_key("basic$protocol");

    subtest "next and next_message: shapes and order, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my ( $ca, $cb ) = ( "$base:shape:a", "$base:shape:b" );
        my $pat = "$base:shape:p*";

        my $sub = $redis->subscribe( $ca, $cb )->get;
        isa_ok( $sub, ['Future::IO::Redis::Subscription'], 'subscribe yields a Subscription' );
        is( $redis->is_pubsub, 1, 'is_pubsub' );
        my $same = $redis->psubscribe($pat)->get;
        is( refaddr($same), refaddr($sub), 'psubscribe on the client adds to the same one' );

        is( $pub->publish( $ca,                 'one' )->get,   1, 'PUBLISH a: one receiver' );
        is( $pub->publish( "$base:shape:p1",    'two' )->get,   1, 'PUBLISH p1: one receiver' );
        is( $pub->publish( $cb,                 'three' )->get, 1, 'PUBLISH b: one receiver' );
        is( $pub->publish( "$base:shape:other", 'none' )->get,  0, 'an unrelated channel: none' );
        is( $pub->publish( $ca,                 'four' )->get,  1, 'PUBLISH a again' );

        my $f = $sub->next;
        ok( FIORTest::ready_within($f), 'next: ready' );
        my $m = $f->get;
        is(
            $m,
            { type => 'message', channel => $ca, pattern => undef, data => 'one' },
            'next: { type, channel, pattern, data }, pattern undef for a message'
        );
        ok( exists $m->{pattern}, 'the pattern key is there (undef)' );

        $f = $sub->next_message;
        ok( FIORTest::ready_within($f), 'next_message: ready' );
        is(
            $f->get,
            {
                type    => 'pmessage',
                channel => "$base:shape:p1",
                pattern => $pat,
                message => 'two'
            },
            'next_message: { type, channel, message, pattern } for a pmessage'
        );

        $f = $sub->next_message;
        ok( FIORTest::ready_within($f), 'next_message again' );
        $m = $f->get;
        is(
            $m,
            { type => 'message', channel => $cb, message => 'three', pattern => undef },
            'next_message: a message, pattern undef'
        );
        ok( exists $m->{pattern}, '... the pattern key is there' );

        is(
            FIORTest::next_tuple($sub),
            [ 'message', $ca, undef, 'four' ],
            'then the fourth, by next'
        );

        # A next made before the message was published.
        my $waiting = $sub->next;
        $loop->delay_future( after => 0.05 )->get;
        ok( !$waiting->is_ready, 'nothing more: next waits' );
        $pub->publish( $cb, 'five' )->get;
        ok( FIORTest::ready_within($waiting), 'a publish completes the waiting next' );
        is(
            $waiting->get,
            { type => 'message', channel => $cb, pattern => undef, data => 'five' },
            '... with that message'
        );

        # A next given up on takes nothing: the message goes to the next one.
        my $gave_up = $sub->next;
        $gave_up->cancel;
        $pub->publish( $ca, 'six' )->get;
        is(
            FIORTest::next_tuple($sub),
            [ 'message', $ca, undef, 'six' ],
            'a cancelled next took nothing'
        );

        $sub->unsubscribe->get;
        $sub->punsubscribe->get;
        ok( $sub->is_closed, 'closed after unsubscribing everything' );
        $redis->disconnect;
    };

    subtest "channels, patterns, channel_count follow (un)subscribe, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my @ch    = map { "$base:set:c$_" } 1 .. 4;
        my @pat   = map { "$base:set:p$_*" } 1 .. 2;

        my $sub = $redis->subscribe( @ch[ 0, 1 ] )->get;
        is( $sub->channels,         [ @ch[ 0, 1 ] ], 'channels: the two' );
        is( $sub->patterns,         [],              'patterns: none' );
        is( $sub->sharded_channels, [],              'sharded_channels: none' );
        is( $sub->channel_count,    2,               'channel_count 2' );
        is( $sub->is_closed,        0,               'not closed' );

        is( refaddr( $sub->subscribe( @ch[ 2, 3 ] )->get ),
            refaddr($sub), '$sub->subscribe yields the subscription itself' );
        is( $sub->channels, [@ch], 'channels: all four (sorted)' );
        $sub->psubscribe(@pat)->get;
        is( $sub->patterns,                [@pat],         'patterns: both' );
        is( $sub->channel_count,           6,              'channel_count 6' );
        is( FIORTest::numsub( $pub, @ch ), [ 1, 1, 1, 1 ], 'the server has the four channels' );

        # Subscribing a name twice keeps one of it.
        $sub->subscribe( $ch[0] )->get;
        is( $sub->channel_count, 6, 'subscribing a channel again: still 6' );

        $sub->unsubscribe( $ch[1] )->get;
        is( $sub->channels,                [ @ch[ 0, 2, 3 ] ], 'unsubscribe one: three left' );
        is( $sub->channel_count,           5,                  'channel_count 5' );
        is( FIORTest::numsub( $pub, @ch ), [ 1, 0, 1, 1 ],     'the server agrees' );
        is( $pub->publish( $ch[1], 'gone' )->get, 0,           'the dropped channel: no receiver' );

        $sub->punsubscribe( $pat[0] )->get;
        is( $sub->patterns, [ $pat[1] ], 'punsubscribe one: one pattern left' );

        $sub->unsubscribe->get;    # every channel
        is( $sub->channels,                [],          'unsubscribe without names: no channels' );
        is( $sub->patterns,                [ $pat[1] ], '... the pattern stays' );
        is( $sub->channel_count,           1,           'channel_count 1' );
        is( $sub->is_closed,               0,           'a pattern left: still open' );
        is( $redis->is_pubsub,             1,           'still pubsub' );
        is( FIORTest::numsub( $pub, @ch ), [ 0, 0, 0, 0 ], 'the server has none of the channels' );

        # The pattern still delivers.
        is( $pub->publish( "$base:set:p2x", 'still' )->get, 1, 'the pattern has a receiver' );
        is(
            FIORTest::next_tuple($sub),
            [ 'pmessage', "$base:set:p2x", $pat[1], 'still' ],
            'and its message comes'
        );

        my $waiting = $sub->next;
        $sub->punsubscribe->get;    # every pattern: nothing left
        is( $sub->patterns,      [], 'punsubscribe without names: no patterns' );
        is( $sub->channel_count, 0,  'channel_count 0' );
        is( $sub->is_closed,     1,  'closed' );
        is( $redis->is_pubsub,   0,  'is_pubsub false' );
        ok( FIORTest::ready_within($waiting), 'a next waiting at the end is completed' );
        is( [ $waiting->is_done ? $waiting->get : 'failed' ], [undef], '... with undef' );
        is( FIORTest::next_tuple($sub),  undef,   'next after the end: undef' );
        is( [ $sub->next_message->get ], [undef], 'next_message after the end: undef' );

        # Unsubscribing again is harmless.
        my $again = $sub->unsubscribe;
        ok( FIORTest::ready_within($again), 'unsubscribe with nothing left settles' );

        my $sub_failure = FIORTest::failure_of( $sub->subscribe( $ch[0] ) );
        isa_ok(
            $sub_failure,
            ['Future::IO::Redis::Error'],
            'the closed subscription cannot subscribe'
        );

        # The client works again, and can subscribe afresh.
        my $k = "$base:set:key";
        is( $redis->set( $k, 'v' )->get, 'OK', 'the client runs commands again: SET' );
        is( $redis->get($k)->get,        'v',  'GET' );
        my $p = $redis->pipeline;
        $p->incr("$k:n")->incr("$k:n");
        is( $p->execute->get, [ 1, 2 ], 'a pipeline' );

        my $fresh = $redis->subscribe( $ch[3] )->get;
        isnt( refaddr($fresh), refaddr($sub), 'subscribing again: a new Subscription' );
        is( $fresh->channels,                      [ $ch[3] ], 'with only the new channel' );
        is( $fresh->is_closed,                     0,          'open' );
        is( $redis->is_pubsub,                     1,          'is_pubsub again' );
        is( $pub->publish( $ch[3], 'again' )->get, 1,          'the server has it' );
        is( FIORTest::next_tuple($fresh), [ 'message', $ch[3], undef, 'again' ],
            'and it delivers' );
        is( FIORTest::next_tuple($sub), undef, 'the old one stays closed' );
        $fresh->unsubscribe->get;
        is( $redis->get($k)->get, 'v', 'and after that, commands again' );
        $redis->del( $k, "$k:n" )->get;
        $redis->disconnect;
    };

    subtest "the client's unsubscribe forms and unsubscribe_all, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        for my $method (qw(unsubscribe punsubscribe sunsubscribe unsubscribe_all)) {
            my $f = $redis->$method;
            ok( FIORTest::ready_within($f) && $f->is_done, "$method without a subscription: done" );
        }
        is( $redis->is_pubsub, 0, '... and no subscription made by them' );

        my @ch  = map { "$base:cu:c$_" } 1 .. 3;
        my $pat = "$base:cu:p*";
        my $sh  = "$base:cu:{s}";
        my $sub = $redis->subscribe(@ch)->get;
        $redis->psubscribe($pat)->get;
        $redis->ssubscribe($sh)->get;
        is( $sub->channel_count, 5, 'five names' );

        $redis->unsubscribe( $ch[0] )->get;
        is( $sub->channels, [ @ch[ 1, 2 ] ], '$redis->unsubscribe(name): that one gone' );
        $redis->unsubscribe->get;
        is( $sub->channels,                [],          '$redis->unsubscribe: every channel' );
        is( FIORTest::numsub( $pub, @ch ), [ 0, 0, 0 ], 'the server agrees' );
        $redis->sunsubscribe->get;
        is( $sub->sharded_channels, [],     '$redis->sunsubscribe: every sharded channel' );
        is( $sub->patterns,         [$pat], 'the pattern is left' );
        is( $redis->is_pubsub,      1,      'still subscribed' );
        $redis->punsubscribe->get;
        is( $sub->is_closed,   1, '$redis->punsubscribe: nothing left, closed' );
        is( $redis->is_pubsub, 0, 'not pubsub' );

        $sub = $redis->subscribe(@ch)->get;
        $sub->psubscribe($pat)->get;
        $sub->ssubscribe($sh)->get;
        my $waiting = $sub->next;
        my $all     = $redis->unsubscribe_all;
        ok( FIORTest::ready_within($all) && $all->is_done, 'unsubscribe_all: done' );
        is( $sub->channel_count, 0, 'nothing left' );
        is( $sub->is_closed,     1, 'closed' );
        is( $redis->is_pubsub,   0, 'not pubsub' );
        ok( FIORTest::ready_within($waiting), 'a waiting next settled' );
        is( [ $waiting->is_done ? $waiting->get : 'failed' ], [undef], '... with undef' );
        is( FIORTest::numsub( $pub, @ch ), [ 0, 0, 0 ], 'the server has none of the channels' );
        is( $pub->publish( "$base:cu:p1", 'x' )->get, 0,      'nor the pattern' );
        is( $pub->spublish( $sh, 'x' )->get,          0,      'nor the sharded channel' );
        is( $redis->ping->get,                        'PONG', 'the client runs commands' );
        $redis->disconnect;
    };

    subtest "ssubscribe and SPUBLISH (smessage), RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my ( $s1, $s2 ) = ( "$base:shard:{a}1", "$base:shard:{a}2" );
        my $sub = $redis->ssubscribe( $s1, $s2 )->get;
        isa_ok( $sub, ['Future::IO::Redis::Subscription'], 'ssubscribe yields a Subscription' );
        is( $sub->sharded_channels, [ $s1, $s2 ], 'sharded_channels' );
        is( $sub->channels,         [],           'no plain channels' );
        is( $sub->channel_count,    2,            'channel_count 2' );
        is(
            { @{ $pub->pubsub_shardnumsub( $s1, $s2 )->get } },
            { $s1 => 1, $s2 => 1 },
            'PUBSUB SHARDNUMSUB'
        );

        is( $pub->spublish( $s1, "s$_" )->get,   1, "SPUBLISH s$_" ) for 1 .. 3;
        is( $pub->spublish( $s2, 'other' )->get, 1, 'SPUBLISH to the second' );
        is( $pub->publish( $s1, 'plain' )->get,  0, 'a plain PUBLISH does not reach it' );
        is( FIORTest::next_tuple($sub),          [ 'smessage', $s1, undef, "s$_" ], "smessage s$_" )
            for 1 .. 3;
        my $f = $sub->next_message;
        ok( FIORTest::ready_within($f), 'next_message' );
        is(
            $f->get,
            { type => 'smessage', channel => $s2, message => 'other', pattern => undef },
            'next_message for an smessage'
        );

        # Sharded and plain channels side by side.
        my $plain = "$base:shard:plain";
        $sub->subscribe($plain)->get;
        is( $sub->channel_count, 3, 'a plain channel too: 3' );
        $pub->publish( $plain, 'p' )->get;
        $pub->spublish( $s2, 's' )->get;
        is( FIORTest::next_tuple($sub), [ 'message',  $plain, undef, 'p' ], 'the plain message' );
        is( FIORTest::next_tuple($sub), [ 'smessage', $s2, undef, 's' ], 'then the sharded one' );

        $sub->sunsubscribe($s1)->get;
        is( $sub->sharded_channels,             [$s2], 'sunsubscribe one' );
        is( $pub->spublish( $s1, 'gone' )->get, 0,     '... the server dropped it' );
        $sub->sunsubscribe->get;
        is( $sub->sharded_channels, [], 'sunsubscribe without names: none' );
        is( $sub->is_closed,        0,  'the plain channel keeps it open' );
        $sub->unsubscribe->get;
        is( $sub->is_closed,   1,      'then closed' );
        is( $redis->ping->get, 'PONG', 'the client works' );
        $redis->disconnect;
    };

    subtest "SUBSCRIBE and friends through command() are refused, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        for my $cmd (
            [ 'SUBSCRIBE',  "$base:raw" ],
            [ 'subscribe',  "$base:raw" ],
            [ 'PSUBSCRIBE', "$base:raw*" ],
            [ 'SSUBSCRIBE', "$base:raw" ],
            ['UNSUBSCRIBE'],
            ['PUNSUBSCRIBE'],
            ['SUNSUBSCRIBE'],
        ) {
            my $err = FIORTest::failure_of( $redis->command(@$cmd) );
            isa_ok( $err, ['Future::IO::Redis::Error'], "$cmd->[0]: refused" );
            like(
                ref $err ? $err->message : '',
                qr/subscribe, psubscribe and ssubscribe methods/,
                "$cmd->[0]: the message points at the subscribe methods"
            );
        }
        is( $redis->is_pubsub,                     0,      'not subscribed by that' );
        is( FIORTest::numsub( $pub, "$base:raw" ), [0],    'nothing subscribed on the server' );
        is( $redis->ping->get,                     'PONG', 'the client works' );

        # Also while subscribed through the API.
        my $sub = $redis->subscribe("$base:raw:api")->get;
        my $err = FIORTest::failure_of( $redis->command( 'SUBSCRIBE', "$base:raw:more" ) );
        like( ref $err ? $err->message : '', qr/subscribe methods/,
            'refused while subscribed too' );
        is( $sub->channels, ["$base:raw:api"], 'the subscription is unchanged' );
        is( FIORTest::numsub( $pub, "$base:raw:more" ),
            [0], '... and the server has no such channel' );
        $sub->unsubscribe->get;
        $redis->disconnect;
    };

    subtest "binary channel names and payloads, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new(%opt);
        my $bytes = join '', map { chr } 0 .. 255;
        my $ch    = "$base:bin:" . $bytes;            # every byte value in the name
        my $ch2   = "$base:bin:\r\n\0*?[x]\xff";
        my $pat   = "$base:bin:*";
        my $text  = "$base:bin:caf\x{e9}\x{263a}";    # a wide-character name
        my $big   = join '', map { chr( ( $_ * 7 + 3 ) % 256 ) } 1 .. 1024 * 1024;

        my $sub = $redis->subscribe( $ch, $ch2, $text )->get;
        is(
            FIORTest::hex_of( @{ $sub->channels } ),
            FIORTest::hex_of( sort( $ch, $ch2, encode_utf8($text) ) ),
            'channels: the exact bytes (text as UTF-8)'
        );
        $sub->psubscribe($pat)->get;

        my @sent = ( $bytes, scalar reverse($bytes), '', "\0", $big );
        is( $pub->publish( $ch, $_ )->get, 2, 'PUBLISH to the binary name: channel and pattern' )
            for @sent;
        is( $pub->publish( $ch2,               "x\r\ny" )->get, 2, 'PUBLISH to the other one' );
        is( $pub->publish( encode_utf8($text), 'utf8' )->get,   2, 'PUBLISH to the UTF-8 bytes' );

        for my $i ( 0 .. $#sent ) {
            my $t = FIORTest::next_tuple($sub);
            is( ref $t ? [ @$t[ 0, 2 ] ] : $t, [ 'message', undef ], "payload $i: a message" );
            FIORTest::bytes_are( ref $t ? $t->[1] : undef, $ch,       "payload $i: channel" );
            FIORTest::bytes_are( ref $t ? $t->[3] : undef, $sent[$i], "payload $i: data" );
            $t = FIORTest::next_tuple($sub);
            is( ref $t ? $t->[0] : $t, 'pmessage', "payload $i: then the pmessage" );
            FIORTest::bytes_are( ref $t ? $t->[1] : undef, $ch,       "payload $i: its channel" );
            FIORTest::bytes_are( ref $t ? $t->[2] : undef, $pat,      "payload $i: its pattern" );
            FIORTest::bytes_are( ref $t ? $t->[3] : undef, $sent[$i], "payload $i: its data" );
        }
        my $t = FIORTest::next_tuple($sub);
        FIORTest::bytes_are( ref $t ? $t->[1] : undef, $ch2,     'CR LF NUL and glob bytes' );
        FIORTest::bytes_are( ref $t ? $t->[3] : undef, "x\r\ny", '... its data' );
        is( FIORTest::next_tuple($sub)->[0], 'pmessage', '... and its pmessage' );
        $t = FIORTest::next_tuple($sub);
        FIORTest::bytes_are( ref $t ? $t->[1] : undef, encode_utf8($text), 'the text name' );
        is( FIORTest::next_tuple($sub)->[0], 'pmessage', '... and its pmessage' );

        $sub->unsubscribe($ch)->get;
        is(
            FIORTest::hex_of( @{ $sub->channels } ),
            FIORTest::hex_of( sort( $ch2, encode_utf8($text) ) ),
            'unsubscribing the binary name by its bytes'
        );
        is( FIORTest::numsub( $pub, $ch ), [0], 'the server dropped it' );
        $sub->unsubscribe->get;
        $sub->punsubscribe->get;
        ok( $sub->is_closed, 'closed' );
        $redis->disconnect;
    };

    subtest "a prefixed client's channels are not prefixed, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %opt, prefix => 'pfx:' );
        my ( $ch, $pat, $sh ) = ( "$base:pfx:chan", "$base:pfx:p*", "$base:pfx:{s}" );
        my $sub = $redis->subscribe($ch)->get;
        $sub->psubscribe($pat)->get;
        $sub->ssubscribe($sh)->get;
        is( $sub->channels,         [$ch],  'channels: the bare name' );
        is( $sub->patterns,         [$pat], 'patterns: the bare pattern' );
        is( $sub->sharded_channels, [$sh],  'sharded_channels: the bare name' );
        is(
            FIORTest::numsub( $pub, $ch, "pfx:$ch" ),
            [ 1, 0 ],
            'the server has the bare channel only'
        );

        is( $pub->publish( $ch, 'bare' )->get, 1, 'an unprefixed PUBLISH to the bare name' );
        is( $pub->publish( "pfx:$ch", 'prefixed' )->get, 0, 'the prefixed name has no receiver' );
        is( $pub->publish( "$base:pfx:p9", 'pat' )->get, 1, 'the bare pattern matches' );
        is( $pub->spublish( $sh, 'shard' )->get,         1, 'SPUBLISH to the bare sharded name' );
        is( FIORTest::next_tuple($sub), [ 'message', $ch, undef, 'bare' ], 'got it' );
        is(
            FIORTest::next_tuple($sub),
            [ 'pmessage', "$base:pfx:p9", $pat, 'pat' ],
            'the pmessage'
        );
        is( FIORTest::next_tuple($sub), [ 'smessage', $sh, undef, 'shard' ], 'the smessage' );

        $sub->unsubscribe($ch)->get;
        is( FIORTest::numsub( $pub, $ch ), [0], 'unsubscribe by the bare name' );
        $sub->punsubscribe->get;
        $sub->sunsubscribe->get;
        ok( $sub->is_closed, 'closed' );
        $redis->disconnect;
    };
}

$pub->disconnect;
done_testing;
